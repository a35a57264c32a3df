"""A Broker that records every call and simulates its effect as events (for test/replay/benches).

Closing a position yields what the gateway sends: the market order it creates
(filled), the closing fill (P&L from the last price) with that order's id, and
the position event with size 0; placing an order yields its order event. The
events wait in `outbox`; the harness feeds them back into the engine.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from rmdsl.contract.broker import ContractInfo, EventSink, OrderChange, OrderRequest, Snapshot
from rmdsl.contract.events import (
    AccountEvent,
    Event,
    OrderEvent,
    OrderStatus,
    OrderType,
    PositionEvent,
    PositionType,
    TradeEvent,
    now_ns,
    symbol_of,
)
from rmdsl.engine.entities import DEFAULT_CONTRACTS, Position
from rmdsl.engine.state import AccountState
from rmdsl.errors import BrokerError

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BrokerCall:
    ts: dt.datetime
    method: str
    args: tuple[object, ...] = ()
    kwargs: dict[str, object] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [repr(a) if not isinstance(a, str) else a for a in self.args]
        parts += [f"{k}={v}" for k, v in self.kwargs.items() if v is not None]
        return f"{self.method}({', '.join(str(p) for p in parts)})"


class RecordingBroker:
    """Implements rmdsl.contract.broker.Broker against an engine's own state."""

    def __init__(self, state: AccountState | None = None, simulate: bool = True) -> None:
        self.state = state
        self.simulate = simulate
        self.calls: list[BrokerCall] = []
        self.outbox: list[Event] = []
        self.fail: Callable[[str], BrokerError | None] | None = None
        self.failures: dict[str, list[str]] = {}  # method -> errors for its next calls
        self._ids = itertools.count(900_000_001)

    def inject_failure(self, method: str, times: int, error: str) -> None:
        """The next `times` calls of `method` raise BrokerError(error) (after being recorded)."""
        self.failures.setdefault(method, []).extend([error] * times)

    def _now(self) -> dt.datetime:
        return self.state.now if self.state is not None else dt.datetime.now(dt.UTC)

    def _record(self, method: str, *args: object, **kwargs: object) -> None:
        self.calls.append(BrokerCall(self._now(), method, args, kwargs))
        queued = self.failures.get(method)
        if queued:
            raise BrokerError(queued.pop(0))
        error = self.fail(method) if self.fail is not None else None
        if error is not None:
            raise error

    async def connect(self, sink: EventSink) -> None:
        self._record("connect")

    async def disconnect(self) -> None:
        self._record("disconnect")

    async def snapshot(self) -> Snapshot:
        self._record("snapshot")
        account = AccountEvent(0, "recording", ZERO, True, self._now())
        return Snapshot(account, (), (), ())

    async def contract_info(self, contract_id: str) -> ContractInfo:
        size, value = DEFAULT_CONTRACTS.get(symbol_of(contract_id), (Decimal("0.25"), ZERO))
        return ContractInfo(contract_id, symbol_of(contract_id), size, value)

    async def close_position(self, contract_id: str) -> None:
        self._record("close_position", contract_id)
        self._simulate_close(contract_id, None)

    async def partial_close(self, contract_id: str, size: int) -> None:
        self._record("partial_close", contract_id, size)
        self._simulate_close(contract_id, size)

    async def cancel_order(self, order_id: int) -> None:
        self._record("cancel_order", order_id)
        st = self.state
        if self.simulate and st is not None and order_id in st.orders:
            ev = st.orders[order_id].event
            self.outbox.append(_order(ev, self._now(), status=OrderStatus.CANCELLED))

    async def place_order(self, request: OrderRequest) -> int:
        self._record("place_order", request.contract_id, **_request_fields(request))
        oid = next(self._ids)
        if self.simulate:
            self.outbox.append(
                OrderEvent(
                    oid,
                    self.state.account_id if self.state else 0,
                    request.contract_id,
                    self._now(),
                    OrderStatus.OPEN,
                    request.type,
                    request.side,
                    request.size,
                    request.limit_price,
                    request.stop_price,
                    custom_tag=request.custom_tag,
                )
            )
        return oid

    async def modify_order(self, order_id: int, change: OrderChange) -> None:
        size, limit, stop = change.size, change.limit_price, change.stop_price
        self._record("modify_order", order_id, size=size, limit_price=limit, stop_price=stop)
        st = self.state
        if self.simulate and st is not None and order_id in st.orders:
            ev = st.orders[order_id].event
            self.outbox.append(
                _order(
                    ev,
                    self._now(),
                    size=ev.size if size is None else size,
                    limit_price=ev.limit_price if limit is None else limit,
                    stop_price=ev.stop_price if stop is None else stop,
                )
            )

    def _simulate_close(self, contract_id: str, size: int | None) -> None:
        """The gateway's answer to a close: its market order (filled), the closing fill at
        the last price with that order's id, and the position after it."""
        st = self.state
        if not self.simulate or st is None or contract_id not in st.positions:
            return
        pos = st.positions[contract_id]
        qty = pos.size if size is None else min(size, pos.size)
        price = st.prices.get(contract_id, pos.avg_price)
        now, oid, side = self._now(), next(self._ids), pos.closing_side
        order = OrderEvent(
            oid, st.account_id, contract_id, now, OrderStatus.FILLED, OrderType.MARKET, side, qty
        )
        pnl = _close_pnl(st, pos, price, qty)
        trade = TradeEvent(
            next(self._ids),
            st.account_id,
            contract_id,
            now,
            price,
            pnl,
            ZERO,
            side,
            qty,
            False,
            oid,
        )
        left = pos.size - qty
        kind = (PositionType.LONG if pos.long else PositionType.SHORT) if left else PositionType(0)
        after = PositionEvent(pos.id, st.account_id, contract_id, now, kind, left, pos.avg_price)
        self.outbox += (order, trade, after)

    def take_outbox(self) -> list[Event]:
        out, self.outbox = self.outbox, []
        return out


def _close_pnl(st: AccountState, pos: Position, price: Decimal, qty: int) -> Decimal:
    """The P&L of closing `qty` of `pos` at `price`, from the contract's tick size and value."""
    tick, value = st.contracts.get(pos.symbol, (ZERO, ZERO))
    move = (price - pos.avg_price) if pos.long else (pos.avg_price - price)
    return (move / tick * value * qty).quantize(Decimal("0.01")) if tick else ZERO


def _order(ev: OrderEvent, ts: dt.datetime, **changes: Any) -> OrderEvent:
    """The order's next update as the gateway sends it: `changes` applied, nothing filled."""
    return replace(
        ev, ts=ts, fill_volume=0, filled_price=None, removed=False, received_ns=now_ns(), **changes
    )


def _request_fields(req: OrderRequest) -> dict[str, object]:
    return {
        "type": req.type.word,
        "side": req.side.word,
        "size": req.size,
        "limit_price": req.limit_price,
        "stop_price": req.stop_price,
    }
