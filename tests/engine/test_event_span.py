"""What event_processing_ms measures: the engine's own step, not other tasks' turns.

The span (rmdsl.engine.step, `Stepper.event`) runs from the clock's advance to the
rules' firings; every store write in it only appends to the step's batch, so it
never yields to the event loop. Were an await in it to suspend, every other
account's task that ran meanwhile would be counted as this account's engine time
(docs/performance.md, "What a step's span contains").
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from enginekit import D, Harness, at, fill, order, position, quote

import rmdsl.engine.step as step
from rmdsl.contract.events import AccountEvent, ClockEvent
from rmdsl.pipeline import load_ruleset

CATALOGUE = Path(__file__).resolve().parents[2] / "rulesets" / "topstep.yaml"
TURN_NS = 1_000_000_000  # what the fake clock moves each time the other task runs


async def test_no_other_task_runs_inside_a_step_s_measured_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fake perf counter that only another task moves: each turn that task gets inside a
    span would add a second to the recorded duration; every span records 0."""
    fake = [0]
    monkeypatch.setattr(step.time, "perf_counter_ns", lambda: fake[0])
    h = await Harness(load_ruleset(CATALOGUE)).start()
    recorded: list[int] = []
    real = h.engine.metrics.event_processed

    def tap(elapsed_ns: int) -> None:
        recorded.append(elapsed_ns)
        real(elapsed_ns)

    monkeypatch.setattr(h.engine.metrics, "event_processed", tap)
    turns = [0]

    async def other_account() -> None:
        while True:
            fake[0] += TURN_NS
            turns[0] += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_account())
    try:
        events = [order(1, at(1), size=3), position(at(2), 3), fill(1, at(3), -600)]
        events += [quote(at(4), 20900), AccountEvent(1, "TC1", D(49000), None, at(5))]
        events += [ClockEvent(at(6)), position(at(7), 0)]
        for event in events:  # the broker's effects (closes) are fed back, with their fills
            await h.feed(event)
            await asyncio.sleep(0)  # the other task runs between steps
    finally:
        other.cancel()
    assert turns[0] >= len(events)  # it did run, between the steps
    assert len(recorded) >= len(events)
    assert set(recorded) == {0}
