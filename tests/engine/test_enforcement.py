"""Enforcement failures (Q13) and the in-flight guard: never two concurrent closes."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from unittest.mock import AsyncMock

from enginekit import MNQ, T0, Harness, at, clock, fill, position, rule, ruleset

from rmdsl.engine.core import Engine
from rmdsl.engine.persistence import StateStore
from rmdsl.errors import BrokerError
from rmdsl.lang.schema import Trigger, UntilKind
from rmdsl.notify import CollectingNotifier
from rmdsl.rules.model import Action
from rmdsl.tooling.memory_store import MemoryStore

LOSS = rule(
    "daily",
    lambda c: c.day.realized_pnl <= Decimal(-100),
    (Action("flatten"),),
    on=(Trigger.FILL, Trigger.TRADE),
    inputs=(("day.realized_pnl", lambda c: c.day.realized_pnl),),
)


def mock_broker() -> AsyncMock:
    broker = AsyncMock()
    broker.close_position = AsyncMock(return_value=None)
    broker.cancel_order = AsyncMock(return_value=None)
    return broker


async def engine_with(broker: AsyncMock, timeout_s: float = 5.0) -> tuple[Engine, MemoryStore]:
    store = MemoryStore()
    eng = Engine(
        __import__("enginekit").ruleset(LOSS),
        broker,
        store,
        CollectingNotifier(),
        lambda: T0,
        account_id=1,
        timeout_s=timeout_s,
    )
    await eng.start()
    return eng, store


def test_memory_store_satisfies_the_protocol() -> None:
    store: StateStore = MemoryStore()
    assert store is not None


async def test_broker_error_is_recorded_alerted_and_the_engine_continues() -> None:
    broker = mock_broker()
    broker.close_position.side_effect = BrokerError("order rejected")
    eng, store = await engine_with(broker)
    await eng.process(position(at(1), 1))
    records = await eng.process(fill(1, at(2), -100))
    (rec,) = records
    assert rec.outcome == "failed" and rec.error == "order rejected"
    assert rec.values == {"day.realized_pnl": "-100"}
    assert store.enforcements == [rec]
    notifier = eng.notifier
    assert isinstance(notifier, CollectingNotifier)
    assert notifier.alerts[0].severity == "critical"
    assert notifier.alerts[0].title == "enforcement failed"
    assert not eng.lockouts.active and not store.lockouts  # no lockout because of the failure
    broker.close_position.side_effect = None
    (retry,) = await eng.process(clock(at(2.25)))  # the first retry comes within 250 ms
    assert retry.outcome == "ok" and retry.values["attempt"] == "2"
    assert broker.close_position.await_count == 2
    assert store.enforcements[-1] is retry
    assert [a.title for a in notifier.alerts] == ["enforcement failed"]  # one alert, not two


async def test_timeout_is_a_failure() -> None:
    broker = mock_broker()

    async def hang(contract_id: str) -> None:
        await asyncio.Event().wait()

    broker.close_position.side_effect = hang
    eng, _store = await engine_with(broker, timeout_s=0.01)
    await eng.process(position(at(1), 1))
    (rec,) = await eng.process(fill(1, at(2), -100))
    assert rec.outcome == "failed" and "timed out" in (rec.error or "")
    assert not eng.lockouts.active


async def test_never_two_concurrent_closes_of_one_position() -> None:
    broker = mock_broker()
    release = asyncio.Event()

    async def slow(contract_id: str) -> None:
        await release.wait()

    broker.close_position.side_effect = slow
    eng, _store = await engine_with(broker)
    await eng.process(position(at(1), 1))
    firing = eng.evaluator._fire_grace(MNQ, 0)
    assert firing is not None
    first = asyncio.create_task(eng.enforcer.close(firing, MNQ, "close_position"))
    await asyncio.sleep(0)
    second = await eng.enforcer.close(firing, MNQ, "close_position")
    assert second.outcome == "skipped" and second.error == "close already in flight"
    release.set()
    assert (await first).outcome == "ok"
    assert broker.close_position.await_count == 1
    goal = eng.enforcer.goals.of_position(eng.state.positions[MNQ])
    assert goal is not None and not goal.inflight  # sent, waiting for the broker to confirm


async def test_enforcement_records_timestamps_and_latency() -> None:
    h = Harness(ruleset(LOSS))
    await h.start()
    await h.feed(position(at(1), 1), fill(1, at(2), -150))
    rec = h.store.enforcements[0]
    assert rec.timestamp == at(2) and rec.account_id == 1
    assert rec.event_received_ts is not None and rec.action_sent_ts is not None
    assert rec.event_received_ts <= rec.action_sent_ts
    assert rec.latency_ms is not None and 0 <= rec.latency_ms < 1000
    assert h.engine.metrics.series["enforcement_latency_ms"].count == 1


async def test_trade_and_lockout_are_persisted_before_the_flatten_is_recorded() -> None:
    lock = rule("lk", lambda c: c.day.losses >= 1, (Action("lockout", {"until": UntilKind.RESET}),))
    h = Harness(ruleset(lock))
    await h.start()
    await h.feed(position(at(1), 1), fill(1, at(2), -1))
    calls = h.store.calls
    first_enforcement = calls.index("record_enforcement")
    assert calls.index("record_trade") < calls.index("add_lockout") < first_enforcement


async def test_run_loop_enforces_in_tasks() -> None:
    broker = mock_broker()
    eng, store = await engine_with(broker)
    task = asyncio.create_task(eng.run())
    await eng.submit(position(at(1), 1))
    await eng.submit(fill(1, at(2), -100))
    while eng.queue.depth or not store.enforcements:
        await asyncio.sleep(0)
    await eng.drain()
    await eng.stop()
    await task
    broker.close_position.assert_awaited_once_with(MNQ)


async def test_a_lockout_polices_the_next_event_before_its_task_has_run() -> None:
    broker = mock_broker()
    lock = rule("lk", lambda c: c.day.losses >= 1, (Action("lockout", {"until": UntilKind.RESET}),))
    store = MemoryStore()
    eng = Engine(
        __import__("enginekit").ruleset(lock), broker, store, CollectingNotifier(), lambda: T0
    )
    await eng.start()
    await eng.process(fill(1, at(1), -5), wait=False)  # enforcement in a task, not run yet
    assert eng.lockouts.account_locked
    await eng.process(position(at(2), 1), wait=False)
    await eng.drain()
    broker.close_position.assert_awaited_with(MNQ)
    assert [lk.rule_id for lk in store.lockouts.values()] == ["lk"]
