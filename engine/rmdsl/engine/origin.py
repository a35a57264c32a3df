"""Which fills are rmdsl's own: the fills of the closes its enforcement sent.

A close (`/Position/closeContract`, `/Position/partialCloseContract`) answers
with no order id, so a close is known by what follows it: the gateway
creates a market order on the closing side of that contract, announces it
(Order, PENDING then FILLED) before its fill (Trade, with the order's id) and
the position (docs/broker.md). So:

1. `OriginBroker` wraps the broker the enforcer calls: a close or a partial
   close registers an *expectation* (contract, closing side, when) BEFORE it
   is sent, since the order may be reported before the call returns.
2. The first market order on that contract and side while an expectation
   is open (at most `EXPECT_FOR` on the virtual clock) is rmdsl's: its id is
   kept, the expectation used up. Any other market order is the trader's.
3. A fill is rmdsl's when its order id is one of rmdsl's orders. A fill
   whose order was never announced (order id 0, or an order event missed)
   falls back to an open expectation for its contract and side.

Each close carries its cause, the rules whose firing sent it (`CAUSE`, set by
the engine around a dispatch and inherited by the enforcement task): a fill of
it never fires those rules again, so no rule re-arms itself from the
enforcement it caused (docs/engine.md, "rmdsl's own closes").

A close the gateway rejects withdraws its expectation, and so does the
position's report that it is flat (the close's order and fill come before
it); one that never shows up expires. Order ids are kept for today and the previous trading day
(a late fill of yesterday's close is still known), so memory is bounded.
Stops and targets rmdsl attaches are not in this set: they protect the
trader's own trade, and their fill is that trade's outcome (docs/rules.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from rmdsl.contract.broker import (
    Broker,
    ContractInfo,
    EventSink,
    OrderChange,
    OrderRequest,
    Snapshot,
)
from rmdsl.contract.events import OrderEvent, OrderType, Side, TradeEvent
from rmdsl.engine.compact import IntPairs, IntSet
from rmdsl.engine.state import AccountState
from rmdsl.errors import BrokerError

EXPECT_FOR = dt.timedelta(seconds=30)
# the rules whose enforcement is being sent (set by Dispatcher.enforce, rmdsl.engine.dispatch)
CAUSE: ContextVar[frozenset[str]] = ContextVar("rmdsl_cause", default=frozenset())


@dataclass(slots=True)
class Expectation:
    contract_id: str
    side: Side | None  # None when the position was unknown: any side matches
    sent_at: dt.datetime
    cause: frozenset[str] = frozenset()


class Causes(Mapping[int, frozenset[str]]):
    """Order or trade id -> the cause of a close of rmdsl's, as arrays (rmdsl.engine.compact)
    and an index into the causes, each kept once (`known`, shared by an account's maps)."""

    def __init__(self, known: dict[frozenset[str], int]) -> None:
        self._rows = IntPairs()  # id -> (index of the cause + 1, unused)
        self._known = known

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and self._rows.get(key)[0] > 0

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows.keys())

    def __getitem__(self, key: int) -> frozenset[str]:
        cause = self.get(key)
        if cause is None:
            raise KeyError(key)
        return cause

    def get(self, key: int, default: frozenset[str] | None = None) -> frozenset[str] | None:  # type: ignore[override]
        index = self._rows.get(key)[0]
        if not index:
            return default
        return next(c for c, i in self._known.items() if i == index)

    def __setitem__(self, key: int, cause: frozenset[str]) -> None:
        self._rows.set(key, self._known.setdefault(cause, len(self._known) + 1), 0)

    def clear(self) -> None:
        self._rows.clear()


class Origins:
    """The closes rmdsl sent and the market orders and fills they became."""

    def __init__(self) -> None:
        self.expected: list[Expectation] = []
        # the causes of rmdsl's closes, each once (a handful of rule sets in an account's life)
        self._causes: dict[frozenset[str], int] = {}
        self.orders = Causes(self._causes)  # rmdsl's close orders today -> cause
        self._previous = Causes(self._causes)  # ... and the previous trading day's
        # market orders seen that are the trader's: one a market order of the day (an array)
        self._foreign = IntSet()
        self._fills = Causes(self._causes)  # rmdsl's fills today -> cause

    def expect(
        self,
        contract_id: str,
        side: Side | None,
        now: dt.datetime,
        cause: frozenset[str] = frozenset(),
    ) -> Expectation:
        exp = Expectation(contract_id, side, now, cause)
        self.expected.append(exp)
        return exp

    def withdraw(self, exp: Expectation) -> None:
        if exp in self.expected:
            self.expected.remove(exp)

    def flat(self, contract_id: str) -> None:
        """The position is reported closed: a close still expected there will send nothing."""
        self.expected = [e for e in self.expected if e.contract_id != contract_id]

    def on_order(self, ev: OrderEvent, now: dt.datetime) -> None:
        """A market order that follows a close of rmdsl's on its contract and side is rmdsl's."""
        if ev.type is not OrderType.MARKET or ev.id in self.orders or ev.id in self._foreign:
            return
        exp = self._match(ev.contract_id, ev.side, now)
        if exp is not None:
            self.orders[ev.id] = exp.cause
        else:
            self._foreign.add(ev.id)

    def is_ours(self, ev: TradeEvent, now: dt.datetime) -> bool:
        """The fill is of one of rmdsl's closes (see the module docstring)."""
        cause = self._cause(ev, now)
        if cause is not None:
            self._fills[ev.id] = cause
        return cause is not None

    def caused_by(self, trade_id: int) -> frozenset[str]:
        """The rules whose enforcement made this fill (empty: not rmdsl's, or not known)."""
        return self._fills.get(trade_id) or frozenset()

    def _cause(self, ev: TradeEvent, now: dt.datetime) -> frozenset[str] | None:
        oid = ev.order_id
        known = self.orders.get(oid) if oid else None
        if known is None and oid:
            known = self._previous.get(oid)
        if known is not None:
            return known  # an empty cause is a cause: rmdsl's close, its rules unknown
        if oid and oid in self._foreign:
            return None
        exp = self._match(ev.contract_id, ev.side, now)
        if exp is None:
            return None
        if oid:
            self.orders[oid] = exp.cause  # its other partial fills follow
        return exp.cause

    def new_day(self) -> None:
        self._previous, self.orders = self.orders, Causes(self._causes)
        self._foreign.clear()
        self._fills.clear()

    def _match(self, contract_id: str, side: Side, now: dt.datetime) -> Expectation | None:
        self.expected = [e for e in self.expected if now - e.sent_at <= EXPECT_FOR]
        for exp in self.expected:
            if exp.contract_id == contract_id and exp.side in (None, side):
                self.expected.remove(exp)
                return exp
        return None


class OriginBroker:
    """The broker the enforcer calls, noting every close rmdsl sends (see the module doc)."""

    def __init__(self, inner: Broker, origins: Origins, state: AccountState) -> None:
        self.inner = inner
        self.origins = origins
        self.state = state

    async def close_position(self, contract_id: str) -> None:
        exp = self._expect(contract_id)
        try:
            await self.inner.close_position(contract_id)
        except BrokerError:
            self.origins.withdraw(exp)  # rejected: no order will come
            raise

    async def partial_close(self, contract_id: str, size: int) -> None:
        exp = self._expect(contract_id)
        try:
            await self.inner.partial_close(contract_id, size)
        except BrokerError:
            self.origins.withdraw(exp)
            raise

    def _expect(self, contract_id: str) -> Expectation:
        pos = self.state.positions.get(contract_id)
        side = pos.closing_side if pos is not None else None
        return self.origins.expect(contract_id, side, self.state.now, CAUSE.get())

    # ---- the rest is the inner broker's -------------------------------------------------------
    async def connect(self, sink: EventSink) -> None:
        await self.inner.connect(sink)

    async def disconnect(self) -> None:
        await self.inner.disconnect()

    async def snapshot(self) -> Snapshot:
        return await self.inner.snapshot()

    async def contract_info(self, contract_id: str) -> ContractInfo:
        return await self.inner.contract_info(contract_id)

    async def cancel_order(self, order_id: int) -> None:
        await self.inner.cancel_order(order_id)

    async def place_order(self, request: OrderRequest) -> int:
        return await self.inner.place_order(request)

    async def modify_order(self, order_id: int, change: OrderChange) -> None:
        await self.inner.modify_order(order_id, change)
