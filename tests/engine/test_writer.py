"""WriteBehind: no enforcement waits on the store; one transaction per step; failures retried."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from unittest.mock import AsyncMock

from enginekit import MNQ, at, fill, position, rule, ruleset

from rmdsl.engine.core import Engine
from rmdsl.engine.persistence import (
    AddLockout,
    CancelTimer,
    EnforcementRecord,
    RecordEnforcement,
    RecordTrade,
    SaveAccount,
    StartTimer,
    TimerRecord,
    Write,
)
from rmdsl.engine.writer import GIVE_UP_AFTER, WriteBehind
from rmdsl.errors import StoreError
from rmdsl.notify import CollectingNotifier
from rmdsl.rules.model import Action
from rmdsl.store import SqliteStore
from rmdsl.tooling.memory_store import MemoryStore

BOUND_S = 2.0  # only a regression waits this long
CLOSE_ON_LOSS = rule("loss", lambda c: c.day.realized_pnl <= Decimal(-50), (Action("flatten"),))


class HangingStore(MemoryStore):
    """A store whose every write blocks until `gate` is set (a locked or stalled disk)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def apply(self, writes: Sequence[Write]) -> None:
        await self.gate.wait()
        await super().apply(writes)

    # the single-write path the engine used before the writer: it must hang as well
    async def record_trade(self, trade: object) -> None:  # type: ignore[override]
        await self.gate.wait()
        await super().record_trade(trade)  # type: ignore[arg-type]

    async def upsert_position(self, position: object) -> None:  # type: ignore[override]
        await self.gate.wait()
        await super().upsert_position(position)  # type: ignore[arg-type]


class BatchLog(MemoryStore):
    """Remembers each transaction's writes."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[Write]] = []

    async def apply(self, writes: Sequence[Write]) -> None:
        self.batches.append(list(writes))
        await super().apply(writes)


class GatedLog(BatchLog):
    """The first transaction waits for `gate` (a slow commit)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def apply(self, writes: Sequence[Write]) -> None:
        if not self.batches:
            self.batches.append([])  # placeholder until the slow commit finishes
            await self.gate.wait()
            self.batches[0] = list(writes)
            await MemoryStore.apply(self, writes)
            return
        await super().apply(writes)


class FlakyStore(MemoryStore):
    """apply fails `failures` times with `error`, then works."""

    def __init__(self, failures: int, error: str) -> None:
        super().__init__()
        self.failures, self.error, self.attempts = failures, error, 0

    async def apply(self, writes: Sequence[Write]) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise StoreError(self.error, transient=self.error == "database is locked")
        await super().apply(writes)


def _engine(store: MemoryStore, broker: AsyncMock) -> Engine:
    return Engine(
        ruleset(CLOSE_ON_LOSS), broker, store, CollectingNotifier(), lambda: at(0), account_id=1
    )


def _timer(key: str) -> TimerRecord:
    return TimerRecord(key, 1, "r", "account", at(0), at(60))


async def test_a_hanging_store_does_not_delay_the_close_request() -> None:
    store, broker = HangingStore(), AsyncMock()
    store.gate.set()
    eng = _engine(store, broker)
    await eng.start()
    await eng.process(position(at(1), 1), wait=False)
    await eng.flush()
    store.gate.clear()  # from here on the disk hangs
    await asyncio.wait_for(eng.process(fill(1, at(2), -100), wait=False), BOUND_S)
    tasks = list(eng.dispatcher.tasks)
    await asyncio.wait_for(asyncio.gather(*tasks), BOUND_S)
    broker.close_position.assert_awaited_once_with(MNQ)
    assert store.enforcements == [] and eng.store.backlog > 0  # not on disk yet
    store.gate.set()
    await asyncio.wait_for(eng.drain(), BOUND_S)
    assert [r.target for r in store.enforcements] == [MNQ]
    assert eng.store.backlog == 0
    await eng.stop()


async def test_the_writes_of_one_fill_are_one_transaction() -> None:
    store = BatchLog()
    eng = _engine(store, AsyncMock())
    await eng.start()
    await eng.flush()
    before = len(store.batches)
    await eng.process(fill(1, at(1), -10))
    assert [[type(w) for w in b] for b in store.batches[before:]] == [[RecordTrade, SaveAccount]]
    await eng.stop()


async def test_a_fill_and_the_lockout_it_starts_are_one_transaction() -> None:
    """A kill -9 between the two commits used to keep the fill (a duplicate at restart, so
    never evaluated again) and lose its cooldown: now both are committed or neither."""
    store = BatchLog()
    cooldown = rule("loss", lambda c: c.day.realized_pnl <= Decimal(-50), (Action("cooldown"),))
    eng = Engine(
        ruleset(cooldown), AsyncMock(), store, CollectingNotifier(), lambda: at(0), account_id=1
    )
    await eng.start()
    await eng.flush()
    before = len(store.batches)
    await eng.process(fill(1, at(1), -100), wait=False)
    await eng.drain()
    first = [type(w) for w in store.batches[before]]
    assert RecordTrade in first and AddLockout in first
    assert sum(type(w) is AddLockout for b in store.batches for w in b) == 1
    await eng.stop()


async def test_a_breaking_fill_and_its_enforcement_are_written_in_order() -> None:
    store = BatchLog()
    eng = _engine(store, AsyncMock())
    await eng.start()
    await eng.process(position(at(1), 1), wait=False)
    await eng.process(fill(1, at(2), -100), wait=False)
    await eng.drain()
    kinds = [type(w).__name__ for batch in store.batches for w in batch]
    assert kinds.index("RecordTrade") < kinds.index("RecordEnforcement")
    await eng.stop()


async def test_a_locked_store_is_retried_alerted_once_and_loses_nothing() -> None:
    store, notifier = FlakyStore(3, "database is locked"), CollectingNotifier()
    writer = WriteBehind(store, notifier, retry_first_s=0.001, retry_max_s=0.002)
    for i in range(3):
        await writer.start_timer(_timer(f"t{i}"))
        writer.seal()
    await asyncio.wait_for(writer.flush(), BOUND_S)
    assert sorted(k for _, k in store.timers) == ["t0", "t1", "t2"]
    titles = [a.title for a in notifier.alerts]
    assert titles == ["state store failure", "state store recovered"]
    assert writer.failing_since is None and writer.dropped == 0


async def test_batches_waiting_behind_a_slow_commit_are_merged_in_order() -> None:
    store = GatedLog()
    writer = WriteBehind(store, CollectingNotifier())
    await writer.start_timer(_timer("a"))
    writer.seal()
    await asyncio.sleep(0)  # the writer task takes this batch and waits on the disk
    await writer.cancel_timer(1, "a")
    writer.seal()
    await writer.start_timer(_timer("b"))
    writer.seal()
    store.gate.set()
    await asyncio.wait_for(writer.flush(), BOUND_S)
    assert [[type(w) for w in b] for b in store.batches] == [
        [StartTimer],
        [CancelTimer, StartTimer],
    ]
    assert list(store.timers) == [(1, "b")]


async def test_a_batch_failing_for_another_reason_is_dropped_after_bounded_attempts() -> None:
    store, notifier = FlakyStore(GIVE_UP_AFTER, "CHECK constraint failed"), CollectingNotifier()
    writer = WriteBehind(store, notifier, retry_first_s=0.001, retry_max_s=0.001)
    await writer.start_timer(_timer("bad"))
    writer.seal()
    await asyncio.wait_for(writer.flush(), BOUND_S)
    await writer.start_timer(_timer("next"))
    await asyncio.wait_for(writer.flush(), BOUND_S)
    assert list(store.timers) == [(1, "next")] and writer.dropped == 1
    assert [a.title for a in notifier.alerts] == ["state store failure", "state writes dropped"]


async def test_close_gives_up_on_a_hanging_store_within_its_bound() -> None:
    store = HangingStore()
    writer = WriteBehind(store, CollectingNotifier(), close_timeout_s=0.01)
    await writer.record_enforcement(_record())
    await asyncio.wait_for(writer.close(), BOUND_S)
    assert store.closed and store.enforcements == []


async def test_writes_outside_a_step_of_one_loop_turn_share_a_transaction() -> None:
    store = BatchLog()
    writer = WriteBehind(store, CollectingNotifier())
    await writer.record_enforcement(_record())
    await writer.record_enforcement(_record())
    await writer.flush()
    assert [[type(w) for w in b] for b in store.batches] == [[RecordEnforcement, RecordEnforcement]]


def _record() -> EnforcementRecord:
    return EnforcementRecord(at(1), 1, "r", "close_position", "why", target=MNQ)


async def test_a_locked_database_delays_persistence_not_the_close(tmp_path: Path) -> None:
    db_path = tmp_path / "state.db"
    flatten = rule("loss", lambda c: c.day.realized_pnl < 0, (Action("flatten"),))
    broker = AsyncMock()
    async with SqliteStore(db_path, busy_timeout_ms=20) as store:
        notifier = CollectingNotifier()
        eng = Engine(ruleset(flatten), broker, store, notifier, lambda: at(0), account_id=1)
        await eng.start()
        await eng.process(position(at(1), 1), wait=False)
        await eng.flush()
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process holds the database
        try:
            await asyncio.wait_for(eng.process(fill(1, at(2), -10), wait=False), BOUND_S)
            await asyncio.wait_for(asyncio.gather(*eng.dispatcher.tasks), BOUND_S)
            broker.close_position.assert_awaited_once_with(MNQ)
            while "state store failure" not in notifier.titles():
                await asyncio.sleep(0.01)
        finally:
            other.execute("ROLLBACK")
            other.close()
        await asyncio.wait_for(eng.drain(), BOUND_S)
        assert [t.trade_id for t in await store.trades_of_day(1, eng.trading_day)] == [1]
        assert [r.target for r in await store.recent_enforcements(limit=10)] == [MNQ]
        assert notifier.titles().count("state store failure") == 1
        await eng.stop()
