"""Exposure as a firm counts it: working entry orders counted, micros as a tenth of a mini.

`positions.exposure` is the most contracts the account would hold if every working
order on one side of a contract filled: per contract the larger of |net + buys| and
|net - sells|, summed over contracts. A protective stop and a target on the closing
side do not add to it (they take the position towards flat), an entry order does,
and so does an exit larger than the position (it would open the other way).
`rmdsl.engine.reduceonly` uses the same arithmetic to tell an entry from an exit.

Mini-equivalents weigh a micro contract at 1/10 of its mini. The table is the micros
TopstepX counts 10:1 in its position limit (Topstep help center, "TopstepX Micros
and Minis"); Micro Silver, Micro Bitcoin and Micro Ether are weighted otherwise
there and are left out, so they count as 1 each (an overcount: the safe side).
docs/language.md, "Exposure", lists the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from rmdsl.contract.events import Side

if TYPE_CHECKING:
    from rmdsl.engine.entities import Order
    from rmdsl.engine.state import AccountState

ONE = Decimal(1)
TENTH = Decimal("0.1")
# micro root -> its mini's root; every micro here is 1/10 of the mini (contract unit)
MICROS: dict[str, str] = {
    "MES": "ES",  # $5 x S&P 500 vs $50
    "MNQ": "NQ",  # $2 x Nasdaq-100 vs $20
    "M2K": "RTY",  # $5 x Russell 2000 vs $50
    "MYM": "YM",  # $0.50 x Dow vs $5
    "MGC": "GC",  # 10 troy oz vs 100
    "MCL": "CL",  # 100 barrels vs 1,000
    "M6E": "6E",  # EUR 12,500 vs 125,000
    "M6A": "6A",  # AUD 10,000 vs 100,000
    "M6B": "6B",  # GBP 6,250 vs 62,500
}


def mini_weight(symbol: str) -> Decimal:
    """What one contract of `symbol` counts in mini-equivalents."""
    return TENTH if symbol in MICROS else ONE


def worst_size(net: int, buys: int, sells: int) -> int:
    """|position| if every working buy (or every working sell) filled, whichever is larger."""
    return max(abs(net + buys), abs(net - sells))


def side_totals(orders: Iterable[Order]) -> dict[str, tuple[int, int]]:
    """Working buy and sell contracts per contract id."""
    out: dict[str, tuple[int, int]] = {}
    for order in orders:
        buys, sells = out.get(order.contract_id, (0, 0))
        if order.event.side is Side.BUY:
            buys += order.event.size
        else:
            sells += order.event.size
        out[order.contract_id] = (buys, sells)
    return out


def refresh(state: AccountState) -> None:
    """Recompute the exposure names of `state.ctx` (after a position or order changed)."""
    view = state.ctx.positions
    totals = side_totals(state.orders.values())
    symbols = {o.contract_id: o.symbol for o in state.orders.values()}
    exposure, weighted, minis = 0, Decimal(0), Decimal(0)
    for pos in state.positions.values():
        weight = mini_weight(pos.symbol)
        pos.view.mini_equivalents = weight * pos.size
        minis += pos.view.mini_equivalents
        symbols[pos.contract_id] = pos.symbol
    for order in state.orders.values():
        buys, sells = totals[order.contract_id]
        net = state.net(order.contract_id)
        side = (buys, 0) if order.event.side is Side.BUY else (0, sells)
        order.view.is_entry = worst_size(net, *side) > abs(net)
    for contract_id, symbol in symbols.items():
        buys, sells = totals.get(contract_id, (0, 0))
        size = worst_size(state.net(contract_id), buys, sells)
        exposure += size
        weighted += mini_weight(symbol) * size
    view.exposure = exposure
    view.exposure_mini_equivalents = weighted
    view.mini_equivalents = minis
