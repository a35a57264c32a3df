"""An account is enforced from the moment its engine is restored, before its first reconcile
(docs/operations.md, "Before its first reconcile"; docs/decisions.md D18).

A broker behind a request budget whose snapshot turn comes when the test says (`turn`)
and whose reads last as long as the test says (`reads`), a memory store holding the
restrictions already decided: no gateway, a fixed clock, short settable bounds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

from tests.engine.enginekit import MNQ, T0, fill, order, position, rule, ruleset

from rmdsl.account_supervisor import AccountSupervisor, Settings
from rmdsl.contract.broker import EventSink, Snapshot
from rmdsl.contract.events import (
    AccountEvent,
    ConnectionEvent,
    ConnectionState,
    Event,
    OrderType,
    PositionEvent,
    Side,
    TradeEvent,
)
from rmdsl.enforce.recording_broker import RecordingBroker
from rmdsl.engine.persistence import LockoutKind, LockoutRecord, UntilKindRecord
from rmdsl.lang.schema import Trigger
from rmdsl.notify import CollectingNotifier
from rmdsl.rules.model import Action, Ruleset
from rmdsl.tooling.memory_store import MemoryStore

NOW = T0
ACCOUNT = 1


class HeldBroker(RecordingBroker):
    """Its snapshot waits for `turn` (a request budget's queue), then its reads for `reads`."""

    account_id = ACCOUNT

    def __init__(self) -> None:
        super().__init__(simulate=False)
        self.turn = asyncio.Event()
        self.reads = asyncio.Event()
        self.reads.set()
        self.queued = asyncio.Event()  # the snapshot waits for its turn
        self.reading = asyncio.Event()  # the snapshot's reads have begun
        self.snap = Snapshot(AccountEvent(ACCOUNT, "held", Decimal(50_000), True, NOW), (), (), ())
        self.sink: EventSink | None = None

    async def connect(self, sink: EventSink) -> None:
        self._record("connect")
        self.sink = sink

    @asynccontextmanager
    async def snapshot_turn(self) -> AsyncIterator[None]:
        self.queued.set()
        await self.turn.wait()
        yield

    async def snapshot(self) -> Snapshot:
        self._record("snapshot")
        self.reading.set()
        await self.reads.wait()
        return self.snap

    async def send(self, event: Event) -> None:
        assert self.sink is not None
        await self.sink(event)

    def made(self, method: str) -> list[str]:
        return [c.describe() for c in self.calls if c.method == method]


def restriction(kind: LockoutKind = LockoutKind.LOCKOUT, rule_id: str = "daily") -> LockoutRecord:
    until = NOW + dt.timedelta(hours=1)
    return LockoutRecord(
        f"{rule_id}-1",
        ACCOUNT,
        None,
        rule_id,
        until,
        UntilKindRecord.DURATION,
        NOW - dt.timedelta(minutes=10),
        kind=kind,
    )


def supervisor(broker: HeldBroker, store: MemoryStore, retry_s: float = 0.01) -> AccountSupervisor:
    settings = Settings(
        clock=lambda: NOW,
        tick_s=0.01,
        maintenance_s=3600.0,
        timeout_s=1.0,
        lock_dir=None,
        unreconciled_alert_s=0.05,
        retry_s=(retry_s, retry_s),
    )
    return AccountSupervisor(
        "held", Path("held.yaml"), broker, store, CollectingNotifier(), settings
    )


async def until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.002)

    await asyncio.wait_for(poll(), timeout_s)


@asynccontextmanager
async def starting(
    sup: AccountSupervisor, rs: Ruleset, broker: HeldBroker
) -> AsyncIterator[asyncio.Task[None]]:
    """The supervisor starting, its snapshot waiting for its turn; stopped after the block."""
    start = asyncio.create_task(sup.start(rs))
    try:
        await until(lambda: broker.queued.is_set() or start.done())
        assert not start.done() and sup.engine is not None
        yield start
    finally:
        broker.turn.set()
        broker.reads.set()
        await asyncio.gather(start, return_exceptions=True)
        await sup.stop()


async def test_a_restored_lockout_closes_a_position_opened_before_the_first_reconcile() -> None:
    broker, store = HeldBroker(), MemoryStore()
    store.lockouts["daily-1"] = restriction()
    sup = supervisor(broker, store)
    async with starting(sup, ruleset(), broker):
        await broker.send(position(NOW + dt.timedelta(seconds=1), 1))
        await until(lambda: bool(broker.made("close_position")))
        assert broker.made("close_position") == [f"close_position({MNQ})"]
        assert not sup.reconciler.reconciled and broker.made("snapshot") == []
        assert sup.engine is not None and not sup.engine.evaluating


async def test_a_restored_reduce_only_cancels_an_entry_order_before_the_first_reconcile() -> None:
    broker, store = HeldBroker(), MemoryStore()
    store.lockouts["ro-1"] = restriction(LockoutKind.REDUCE_ONLY, "ro")
    sup = supervisor(broker, store)
    async with starting(sup, ruleset(), broker):
        entry = order(
            41, NOW + dt.timedelta(seconds=1), type=OrderType.LIMIT, side=Side.BUY, limit=20900
        )
        await broker.send(entry)
        await until(lambda: bool(broker.made("cancel_order")))
        assert broker.made("cancel_order") == ["cancel_order(41)"]
        assert not sup.reconciler.reconciled


async def test_a_fill_before_the_first_reconcile_is_held_then_caught_up_once() -> None:
    daily = rule(
        "daily",
        lambda c: c.day.realized_pnl <= Decimal(-500),
        (Action("lockout", {"until": UntilKindRecord.RESET}),),
        on=(Trigger.TRADE,),
    )
    broker, store = HeldBroker(), MemoryStore()
    sup = supervisor(broker, store)
    loss = fill(7, NOW + dt.timedelta(seconds=1), -600, side=Side.SELL)
    async with starting(sup, ruleset(daily), broker) as start:
        await broker.send(loss)
        await broker.send(position(NOW + dt.timedelta(seconds=2), 0))  # the pump is past it
        await until(lambda: sup.engine is not None and sup.engine.state.now > NOW)
        assert sup.engine is not None and not sup.engine.lockouts.active  # held, not decided
        broker.snap = _with_trades(broker.snap, loss)  # the gateway's day has it too
        broker.turn.set()
        await start
        assert sup.reconciler.reconciled and sup.engine.evaluating
        assert [lk.rule_id for lk in sup.engine.lockouts.active.values()] == ["daily"]
        assert [lk.rule_id for lk in store.lockouts.values()] == ["daily"]
        assert sup.engine.ctx.day.trades == 1


async def test_an_event_during_the_snapshots_reads_is_applied_after_it() -> None:
    broker, store = HeldBroker(), MemoryStore()
    sup = supervisor(broker, store)
    async with starting(sup, ruleset(), broker) as start:
        await broker.send(position(NOW + dt.timedelta(seconds=1), 1))
        engine = sup.engine
        assert engine is not None
        await until(lambda: MNQ in engine.state.positions)  # applied before the turn
        broker.snap = _with_positions(broker.snap, position(NOW + dt.timedelta(seconds=2), 2))
        broker.reads.clear()
        broker.turn.set()
        await until(broker.reading.is_set)
        await broker.send(position(NOW + dt.timedelta(seconds=3), 0))  # closed during the reads
        await asyncio.sleep(0.02)
        assert engine.state.positions[MNQ].size == 1  # it waits for the snapshot
        broker.reads.set()
        await start
        await until(lambda: MNQ not in engine.state.positions)  # the snapshot's 2 overwritten


async def test_a_lockout_is_policed_while_a_reconnects_reconcile_backs_off() -> None:
    broker, store = HeldBroker(), MemoryStore()
    store.lockouts["daily-1"] = restriction()
    broker.turn.set()
    sup = supervisor(broker, store, retry_s=0.2)
    await sup.start(ruleset())
    try:
        assert sup.reconciler.reconciled
        await broker.send(ConnectionEvent(ConnectionState.DISCONNECTED, NOW))
        broker.inject_failure("snapshot", 1000, "trade search: Server error: 500")
        await broker.send(ConnectionEvent(ConnectionState.CONNECTED, NOW))
        await until(lambda: len(broker.made("snapshot")) >= 2)  # failed, backing off
        await broker.send(position(NOW + dt.timedelta(seconds=1), 1))
        await until(lambda: bool(broker.made("close_position")), timeout_s=1.0)
        assert not sup.reconciler.reconciled
    finally:
        await sup.stop()


def _with_trades(snap: Snapshot, *trades: TradeEvent) -> Snapshot:
    return Snapshot(snap.account, snap.positions, snap.open_orders, trades)


def _with_positions(snap: Snapshot, *positions: PositionEvent) -> Snapshot:
    return Snapshot(snap.account, positions, snap.open_orders, snap.trades_today)
