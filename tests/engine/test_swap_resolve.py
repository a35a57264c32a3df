"""swap_ruleset keeps state; directional params loosen only at reset; conflict resolution order."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from enginekit import CHICAGO, ES, MNQ, D, at, clock, fill, harness, param, position, rule, ruleset

from rmdsl.engine.evaluate import Firing
from rmdsl.engine.resolve import resolve
from rmdsl.lang.schema import Scope, Trigger, UntilKind
from rmdsl.rules.model import Action, Stricter

LIMIT = rule(
    "daily",
    lambda c: c.day.realized_pnl <= c.params["daily_loss"],  # type: ignore[operator]
    (Action("lockout", {"until": UntilKind.RESET}),),
    on=(Trigger.FILL, Trigger.TRADE),
)


def with_limit(value: str) -> object:
    return ruleset(LIMIT, params={"daily_loss": param("daily_loss", D(value), Stricter.HIGHER)})


async def test_swap_keeps_lockouts() -> None:
    h = await harness(with_limit("-500"))
    await h.feed(fill(1, at(1), -500))
    assert h.engine.lockouts.account_locked
    await h.engine.swap_ruleset(ruleset())  # the rule is gone entirely
    assert h.engine.lockouts.account_locked
    await h.feed(position(at(2), 1))
    assert h.calls() == ["close_position"]
    assert h.store.versions[-1].digest == "test"


async def test_swap_never_stops_a_running_grace_timer() -> None:
    h = await harness(ruleset(grace_ms=60_000))
    await h.feed(position(at(0), 1))
    (before,) = h.engine.evaluator.timers.running.values()
    await h.engine.swap_ruleset(ruleset(grace_ms=300_000))
    (after,) = h.engine.evaluator.timers.running.values()
    assert after == before and after.deadline == at(60)
    await h.feed(clock(at(60)))
    assert h.calls() == ["close_position"]


async def test_loosened_directional_param_waits_for_the_reset() -> None:
    h = await harness(with_limit("-500"))
    await h.engine.swap_ruleset(with_limit("-1000"))  # looser
    assert h.engine.ctx.params["daily_loss"] == D(-500)
    await h.feed(fill(1, at(1), -600))
    assert h.engine.lockouts.account_locked  # the old, stricter limit still applies
    reset = dt.datetime(2026, 3, 2, 17, tzinfo=CHICAGO)
    await h.feed(clock(reset))
    assert h.engine.ctx.params["daily_loss"] == D(-1000)


async def test_tightened_directional_param_applies_at_once() -> None:
    h = await harness(with_limit("-500"))
    await h.feed(fill(1, at(1), -300))
    await h.engine.swap_ruleset(with_limit("-250"))
    assert h.engine.ctx.params["daily_loss"] == D(-250)
    await h.feed(fill(2, at(2), -1))
    assert h.engine.lockouts.account_locked


async def test_tightened_limit_already_crossed_fires_without_another_event() -> None:
    """Regression: a reload below the current loss waited for the next fill to act."""
    h = await harness(with_limit("-500"))
    await h.feed(fill(1, at(1), -300))
    assert not h.engine.lockouts.account_locked
    await h.engine.swap_ruleset(with_limit("-250"))
    await h.engine.drain()
    assert h.engine.lockouts.account_locked
    assert [r.rule_name for r in h.store.enforcements] == ["daily"]


async def test_plain_param_applies_at_once() -> None:
    rs = ruleset(params={"n": param("n", 5)})
    h = await harness(rs)
    await h.engine.swap_ruleset(ruleset(params={"n": param("n", 9)}))
    assert h.engine.ctx.params["n"] == 9


async def test_swap_keeps_a_running_for_timer_of_a_kept_rule() -> None:
    slow = rule(
        "slow",
        lambda c: c.day.losses >= 1,
        (Action("flatten"),),
        on=(Trigger.FILL, Trigger.TRADE),
        for_ms=60_000,
    )
    h = await harness(ruleset(slow))
    await h.feed(position(at(0), 1), fill(1, at(0), -1))
    await h.engine.swap_ruleset(ruleset(slow))
    await h.feed(clock(at(60)))
    assert "close_position" in h.calls()


def firing(rule_id: str, *actions: Action, contract: str | None = MNQ) -> Firing:
    return Firing(
        rule_id,
        "critical",
        actions,
        Scope.POSITION,
        contract or "account",
        at(0),
        0,
        rule_id,
        contract_id=contract,
        symbol="MNQ" if contract else None,
    )


def test_conflict_resolution_orders_by_strength_and_records_every_firing() -> None:
    steps = resolve(
        [
            firing("reducer", Action("reduce_position", {"to": 1})),
            firing("closer", Action("close_position")),
            firing("warn", Action("alert")),
            firing("locker", Action("lockout", {"until": UntilKind.RESET}), contract=None),
            firing("flattener", Action("flatten"), contract=None),
        ]
    )
    got = [(s.firing.rule_id, s.action.name, s.skip is None) for s in steps]
    assert got == [
        ("locker", "lockout", True),
        ("flattener", "flatten", False),
        ("closer", "close_position", False),
        ("reducer", "reduce_position", False),
        ("warn", "alert", True),
    ]
    assert steps[1].skip == "covered by the flatten of locker"


def test_close_beats_reduce_of_the_same_position_only() -> None:
    steps = resolve(
        [
            firing("reducer", Action("reduce_position", {"to": 1})),
            firing("other", Action("reduce_position", {"to": 1}), contract=ES),
            firing("closer", Action("close_position")),
        ]
    )
    got = {(s.firing.rule_id): s.skip for s in steps}
    assert got == {"closer": None, "reducer": "covered by the close of closer", "other": None}


async def test_conflict_in_the_engine_sends_one_close() -> None:
    closer = rule("closer", lambda c: c.day.losses >= 1, (Action("flatten"),))
    locker = rule("locker", lambda c: c.day.losses >= 1, (Action("lockout", {"until": 60_000}),))
    h = await harness(ruleset(closer, locker))
    await h.feed(position(at(0), 1), fill(1, at(1), Decimal(-5)))
    assert h.calls() == ["close_position"]
    assert {(r.rule_name, str(r.outcome)) for r in h.records} == {
        ("locker", "ok"),
        ("closer", "skipped"),
    }
