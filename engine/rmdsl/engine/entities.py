"""The engine's positions and working orders, each with the EvalContext view rules read.

AccountState (rmdsl.engine.state) keeps one Position per contract and the
working Orders; the views are updated in place as events come. Here too: the
contract sizes used until the broker supplies its own, and what counts as a
position's protective stop (`position.has_stop`, `position.stop_ticks`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from rmdsl.contract.events import OrderEvent, OrderStatus, Side
from rmdsl.engine.tags import is_rmdsl_tag
from rmdsl.lang.context import OrderView, PositionView

ZERO = Decimal(0)

# (tick size, tick value) until the broker supplies ContractInfo
DEFAULT_CONTRACTS: dict[str, tuple[Decimal, Decimal]] = {
    "MNQ": (Decimal("0.25"), Decimal("0.50")),
    "NQ": (Decimal("0.25"), Decimal("5")),
    "MES": (Decimal("0.25"), Decimal("1.25")),
    "ES": (Decimal("0.25"), Decimal("12.50")),
    "MYM": (Decimal("1"), Decimal("0.50")),
    "YM": (Decimal("1"), Decimal("5")),
    "M2K": (Decimal("0.1"), Decimal("0.50")),
    "RTY": (Decimal("0.1"), Decimal("5")),
}


@dataclass(slots=True)
class Position:
    id: int
    contract_id: str
    symbol: str
    long: bool
    size: int
    avg_price: Decimal
    opened_at: dt.datetime
    updated_at: dt.datetime
    view: PositionView = field(default_factory=PositionView)

    @property
    def closing_side(self) -> Side:
        return Side.SELL if self.long else Side.BUY


@dataclass(slots=True)
class Order:
    id: int
    contract_id: str
    symbol: str
    event: OrderEvent
    placed_at: dt.datetime
    view: OrderView = field(default_factory=OrderView)

    @property
    def by_rmdsl(self) -> bool:
        """rmdsl placed it (a protective stop or target): known by its tag, after a restart too."""
        return is_rmdsl_tag(self.event.custom_tag)


def protection(pos: Position, orders: Iterable[Order], tick: Decimal) -> tuple[bool, Decimal]:
    """(has_stop, stop_ticks): a working stop-type order on the closing side; entry to the
    tightest stop in ticks, signed: positive while the stop risks a loss, negative once it
    locks in profit (a long's stop above its entry, a short's below)."""
    side, has_stop, best = pos.closing_side, False, None
    for order in orders:
        ev = order.event
        if ev.contract_id != pos.contract_id or ev.side is not side or not ev.type.is_stop:
            continue
        if ev.status is OrderStatus.UNKNOWN:
            continue  # a stop whose status we cannot read is no protection
        has_stop = True
        stop = ev.stop_price if ev.stop_price is not None else ev.limit_price
        if stop is not None:
            dist = pos.avg_price - stop if pos.long else stop - pos.avg_price
            best = dist if best is None else min(best, dist)
    return has_stop, best / tick if best is not None and tick else ZERO
