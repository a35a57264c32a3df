"""`for:` timers and the NoStopLossGrace timer: start, cancel, fire, on the virtual clock."""

from __future__ import annotations

import datetime as dt

from enginekit import MNQ, D, at, clock, harness, order, position, quote, rule, ruleset

from rmdsl.contract.events import OrderStatus
from rmdsl.lang.schema import Scope, Trigger
from rmdsl.rules.model import Action

UNDER = rule(
    "underwater",
    lambda c: c.position is not None and c.position.unrealized_pnl < D(-20),
    (Action("close_position"),),
    scope=Scope.POSITION,
    on=(Trigger.QUOTE, Trigger.POSITION),
    for_ms=30_000,
)


async def protected(h: object) -> None:
    await h.feed(position(at(0), 1), order(9, at(0)))  # type: ignore[attr-defined]


async def test_for_timer_fires_after_the_condition_held_for_the_duration() -> None:
    h = await harness(ruleset(UNDER))
    await protected(h)
    await h.feed(quote(at(10), 20950))  # -$25: timer starts at 10 s
    assert f"underwater|{MNQ}" in h.engine.evaluator.timers
    await h.feed(clock(at(39.999)))
    assert h.broker.calls == []
    await h.feed(clock(at(41)))
    assert h.calls() == ["close_position"]
    assert h.records[0].timestamp == at(40)  # fired at the deadline, not at the clock tick


async def test_for_timer_is_cancelled_when_the_condition_clears() -> None:
    h = await harness(ruleset(UNDER))
    await protected(h)
    await h.feed(quote(at(10), 20950), quote(at(20), 21000))
    assert f"underwater|{MNQ}" not in h.engine.evaluator.timers
    assert "cancel_timer" in h.store.calls
    await h.feed(quote(at(30), 20950), clock(at(55)))
    assert h.broker.calls == []  # restarted at 30 s: due at 60 s
    await h.feed(clock(at(60)))
    assert h.calls() == ["close_position"]


async def test_for_timer_is_persisted_when_started() -> None:
    h = await harness(ruleset(UNDER))
    await protected(h)
    await h.feed(quote(at(10), 20950))
    (timer,) = [t for t in h.store.timers.values() if t.rule_id == "underwater"]
    assert timer.deadline == at(40) and timer.entity == MNQ


async def test_grace_closes_an_unprotected_position() -> None:
    h = await harness(ruleset(grace_ms=120_000))
    await h.feed(position(at(0), 1))
    await h.feed(clock(at(119.999)))
    assert h.broker.calls == []
    await h.feed(clock(at(120)))
    assert h.calls() == ["close_position"]
    assert h.records[0].rule_name == "no_stop_loss_grace"
    assert "MNQ" in h.records[0].reason
    shown = {"position.has_stop": "false", "grace": "2m", "position.age": "2m"}
    assert h.records[0].shown == shown


async def test_grace_cancelled_by_a_stop() -> None:
    h = await harness(ruleset(grace_ms=60_000))
    await h.feed(position(at(0), 1), order(9, at(30)))
    assert not h.engine.evaluator.timers
    await h.feed(clock(at(200)))
    assert h.broker.calls == []


async def test_stop_placed_one_ms_before_grace_ends_cancels_it() -> None:
    h = await harness(ruleset(grace_ms=60_000))
    await h.feed(position(at(0), 1))
    await h.feed(order(9, at(60) - dt.timedelta(milliseconds=1)), clock(at(61)))
    assert h.broker.calls == []


async def test_stop_placed_exactly_at_the_deadline_is_too_late() -> None:
    h = await harness(ruleset(grace_ms=60_000))
    await h.feed(position(at(0), 1))
    await h.feed(order(9, at(60)))
    assert h.calls() == ["close_position"]


async def test_grace_restarts_when_the_stop_is_cancelled() -> None:
    h = await harness(ruleset(grace_ms=60_000))
    await h.feed(position(at(0), 1), order(9, at(1)))
    await h.feed(order(9, at(10), status=OrderStatus.CANCELLED), clock(at(69)))
    assert h.broker.calls == []
    await h.feed(clock(at(70)))
    assert h.calls() == ["close_position"]


async def test_a_stop_on_the_wrong_side_does_not_protect() -> None:
    from rmdsl.contract.events import Side

    h = await harness(ruleset(grace_ms=60_000))
    await h.feed(position(at(0), 1), order(9, at(1), side=Side.BUY), clock(at(60)))
    assert h.calls() == ["close_position"]


async def test_grace_action_flatten() -> None:
    h = await harness(ruleset(grace_ms=60_000, grace_action="flatten"))
    from rmdsl.contract.events import OrderType, Side

    await h.feed(position(at(0), 1), order(4, at(1), type=OrderType.LIMIT, side=Side.BUY))
    await h.feed(clock(at(60)))
    assert sorted(h.calls()) == ["cancel_order", "close_position"]


def test_timer_heap_is_compacted_when_a_condition_flaps() -> None:
    from rmdsl.engine.timers import Timers

    timers = Timers()
    for i in range(5000):
        timers.start(1, "r", "account", at(i), 3_600_000)
        timers.cancel("r|account")
    timers.start(1, "r", "account", at(6000), 1000)
    assert len(timers._heap) < 2000
    assert [t.deadline for t in timers.due(at(7000))] == [at(6001)]
    assert timers.next_deadline() is None
