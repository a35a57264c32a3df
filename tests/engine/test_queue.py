"""The bounded queue: quotes coalesced when full, other events never dropped, an alert raised."""

from __future__ import annotations

import asyncio
from unittest.mock import AsyncMock

from enginekit import ES, MNQ, at, clock, fill, harness, order, position, quote, ruleset

from rmdsl.engine.queue import EventQueue


def drain(q: EventQueue) -> list[object]:
    out = []
    while (ev := q.get_nowait()) is not None:
        out.append(ev)
    return out


def test_full_queue_coalesces_quotes_and_keeps_every_fill() -> None:
    degraded: list[int] = []
    q = EventQueue(limit=3, on_degraded=degraded.append)
    for i in range(3):
        q.put(quote(at(i), 21000 + i))
    fills = [fill(i, at(10 + i), -1) for i in range(5)]
    for i, f in enumerate(fills):
        q.put(f)
        q.put(quote(at(10 + i), 22000 + i))
        q.put(quote(at(10 + i), 5000 + i, contract=ES))
    assert q.degraded and degraded and q.coalesced == 8
    out = drain(q)
    assert [e for e in out if e in fills] == fills  # all of them, in order
    later = [e for e in out[3:] if not hasattr(e, "id")]
    assert [(e.contract_id, e.price) for e in later] == [(MNQ, 22004), (ES, 5004)]
    assert q.depth == 0 and not q.degraded


def test_degraded_alert_is_raised_once_until_recovered() -> None:
    calls: list[int] = []
    q = EventQueue(limit=2, on_degraded=calls.append)
    for i in range(10):
        q.put(fill(i, at(i), None))
    assert len(calls) == 1 and q.depth == 10
    drain(q)
    q.put(fill(99, at(99), None))
    q.put(fill(98, at(99), None))
    q.put(fill(97, at(99), None))
    assert len(calls) == 2


def test_a_quote_is_never_overtaken_by_an_older_parked_one() -> None:
    q = EventQueue(limit=1)
    q.put(order(1, at(0)))
    q.put(quote(at(1), 1))  # parked (full)
    assert q.get_nowait() is not None
    q.put(quote(at(2), 2))  # room now, but MNQ is parked: replace it
    out = drain(q)
    assert [e.price for e in out] == [2]


def test_clock_ticks_collapse_to_the_latest_when_full() -> None:
    q = EventQueue(limit=1)
    q.put(order(1, at(0)))
    q.put(clock(at(1)))
    q.put(clock(at(2)))
    assert [e.ts for e in drain(q)][1:] == [at(2)]


async def test_engine_alerts_daemon_degraded_and_processes_every_fill() -> None:
    h = await harness(ruleset(), queue_limit=5)
    for i in range(20):
        await h.engine.submit(fill(i, at(i), -1))
        await h.engine.submit(quote(at(i), 21000 + i))
    assert h.notifier.titles() == ["daemon degraded"]
    task = asyncio.create_task(h.engine.run())
    while h.engine.queue.depth:
        await asyncio.sleep(0)
    await h.engine.stop()
    await task
    assert h.store.closed
    assert h.engine.ctx.day.trades == 20
    assert h.engine.state.prices[MNQ] == 21019


async def test_get_waits_for_a_put() -> None:
    q = EventQueue()
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.put(clock(at(1)))
    assert (await waiter).ts == at(1)


async def test_a_bad_event_is_alerted_and_the_loop_goes_on() -> None:
    h = await harness(ruleset())

    def broken(ev: object) -> None:
        raise ValueError("boom")

    h.engine.state.apply_quote = broken  # type: ignore[method-assign]
    task = asyncio.create_task(h.engine.run())
    await h.engine.submit(quote(at(1), 1))
    await h.engine.submit(fill(1, at(2), -5))
    while h.engine.queue.depth:
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    await h.engine.stop()
    await task
    assert h.notifier.titles() == ["event processing failed"]
    assert h.engine.ctx.day.trades == 1


async def test_maintenance_samples_rss_and_persists_metrics() -> None:
    h = await harness(ruleset())
    await h.feed(fill(1, at(1), -5))
    await h.engine.maintenance()
    await h.engine.flush()  # the run loop never waits for this commit
    names = {m.name for m in h.store.metrics}
    assert "rss_mb.p50" in names and "event_processing_ms.p50" in names


async def test_a_slow_grace_close_during_run_does_not_delay_the_next_event() -> None:
    """Regression: timer firings were dispatched with wait=True even inside run(), so a grace
    close (the SDK sleeps 0.1 s after one) held up every event queued behind it."""
    h = await harness(ruleset(grace_ms=60_000))
    await h.feed(position(at(0), 1))  # unprotected: the grace timer starts
    gate = asyncio.Event()

    async def slow_close(contract_id: str) -> None:
        await gate.wait()

    h.broker.close_position = AsyncMock(side_effect=slow_close)  # type: ignore[method-assign]
    task = asyncio.create_task(h.engine.run())
    try:
        await h.engine.submit(clock(at(61)))  # the grace deadline passes: close in flight
        await h.engine.submit(quote(at(62), 21001))
        for _ in range(100):
            if h.broker.close_position.await_count and not h.engine.queue.depth:
                break
            await asyncio.sleep(0)
        assert h.broker.close_position.await_count == 1 and not gate.is_set()
        assert h.engine.state.prices.get(MNQ) == 21001  # processed while the close waits
    finally:
        gate.set()
        await h.engine.drain()
        await h.engine.stop()
        await task
    assert [r.action for r in h.store.enforcements] == ["close_position"]
