"""Helpers for engine tests: hand-built rulesets, event builders, an engine on a virtual clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from rmdsl.contract.events import (
    ClockEvent,
    Event,
    OrderEvent,
    OrderStatus,
    OrderType,
    PositionEvent,
    PositionType,
    QuoteEvent,
    Side,
    TradeEvent,
)
from rmdsl.enforce.recording_broker import RecordingBroker
from rmdsl.engine.core import Engine
from rmdsl.engine.persistence import EnforcementRecord
from rmdsl.lang.context import EvalContext
from rmdsl.lang.schema import Scope, Trigger
from rmdsl.notify import CollectingNotifier
from rmdsl.rules.model import (
    Action,
    NoStopLossGrace,
    Param,
    Rule,
    Ruleset,
    SessionHours,
    Stricter,
)
from rmdsl.tooling.memory_store import MemoryStore

CHICAGO = ZoneInfo("America/Chicago")
# Monday 2026-03-02 09:00 CST
T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
MNQ = "CON.F.US.MNQ.H26"
ES = "CON.F.US.EP.H26"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def D(x: object) -> Decimal:
    return Decimal(str(x))


def rule(
    rid: str,
    when: Callable[[EvalContext], bool],
    do: tuple[Action, ...] = (Action("flatten"),),
    *,
    scope: Scope = Scope.ACCOUNT,
    on: tuple[Trigger, ...] = tuple(Trigger),
    for_ms: int | None = None,
    inputs: tuple[tuple[str, Callable[[EvalContext], Any]], ...] = (),
    message: str | None = None,
) -> Rule:
    return Rule(
        id=rid,
        scope=scope,
        when=when,
        when_source="<test>",
        triggers=frozenset(on),
        actions=do,
        message=lambda ctx: message or rid,
        for_ms=for_ms,
        inputs=inputs,
    )


def ruleset(
    *rules: Rule,
    params: dict[str, Param] | None = None,
    grace_ms: int = 120_000,
    grace_action: str = "close_position",
    reset: dt.time = dt.time(17, 0),
    tz: ZoneInfo = CHICAGO,
) -> Ruleset:
    return Ruleset(
        name="test",
        path="<test>",
        description="",
        timezone=tz,
        reset=reset,
        session=SessionHours(),
        holidays=frozenset(),
        params=params or {},
        rules=rules,
        no_stop_loss_grace=NoStopLossGrace(grace_ms=grace_ms, action=grace_action),
        files=(),
        digest="test",
    )


def param(name: str, value: object, stricter: Stricter | None = None) -> Param:
    return Param(name, value, "money", stricter)


def fill(
    tid: int,
    ts: dt.datetime,
    pnl: object | None = None,
    *,
    contract: str = MNQ,
    side: Side = Side.BUY,
    size: int = 1,
    price: object = 21000,
    voided: bool = False,
    fees: object = 0,
) -> TradeEvent:
    """`pnl` is the gateway's profitAndLoss (gross, None on an opening fill)."""
    gross = None if pnl is None else D(pnl)
    return TradeEvent(tid, 1, contract, ts, D(price), gross, D(fees), side, size, voided)


def position(
    ts: dt.datetime,
    size: int = 1,
    *,
    contract: str = MNQ,
    long: bool = True,
    price: object = 21000,
    pid: int = 1,
) -> PositionEvent:
    kind = (PositionType.LONG if long else PositionType.SHORT) if size else PositionType.UNDEFINED
    return PositionEvent(pid, 1, contract, ts, kind, size, D(price))


def order(
    oid: int,
    ts: dt.datetime,
    *,
    contract: str = MNQ,
    type: OrderType = OrderType.STOP,
    side: Side = Side.SELL,
    status: OrderStatus = OrderStatus.OPEN,
    size: int = 1,
    stop: object | None = 20990,
    limit: object | None = None,
) -> OrderEvent:
    return OrderEvent(
        oid,
        1,
        contract,
        ts,
        status,
        type,
        side,
        size,
        None if limit is None else D(limit),
        None if stop is None else D(stop),
    )


def quote(ts: dt.datetime, price: object, contract: str = MNQ) -> QuoteEvent:
    return QuoteEvent(contract, ts, D(price))


def clock(ts: dt.datetime) -> ClockEvent:
    return ClockEvent(ts)


class Harness:
    """An engine with a recording broker and memory store; `feed` also feeds broker effects."""

    def __init__(
        self, rs: Ruleset, start: dt.datetime = T0, store: MemoryStore | None = None, **kw: Any
    ) -> None:
        self.store = MemoryStore() if store is None else store
        self.notifier = CollectingNotifier()
        self.broker = RecordingBroker()
        self.engine = Engine(
            rs, self.broker, self.store, self.notifier, lambda: start, account_id=1, **kw
        )
        self.broker.state = self.engine.state
        self.records: list[EnforcementRecord] = []

    async def start(self) -> Harness:
        await self.engine.start()
        await self.engine.flush()  # start-up writes are committed behind it: read them here
        return self

    async def feed(self, *events: Event) -> list[EnforcementRecord]:
        out: list[EnforcementRecord] = []
        queue = list(events)
        while queue:
            out += await self.engine.process(queue.pop(0))
            queue = self.broker.take_outbox() + queue
        self.records += out
        return out

    def calls(self) -> list[str]:
        return [c.method for c in self.broker.calls]

    def fired(self) -> list[tuple[str, str, str]]:
        return [(r.rule_name, r.action, str(r.outcome)) for r in self.records]


async def harness(rs: Ruleset, **kw: Any) -> Harness:
    return await Harness(rs, **kw).start()
