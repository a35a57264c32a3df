"""The evaluator's hot loop (docs/performance.md, "Cheaper fills, orders and positions (r14l)").

Each event kind runs exactly the rules its triggers name, each once, in the order the
rules were always run; the run of a set of triggers is made once and made again after a
reload; a rule seen false re-arms (latch, `for:` timer) only when there is something to
forget; every evaluation is timed in the rule's series and a slow one alerts.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import pytest
from enginekit import ES, at, fill, harness, order, position, quote, rule, ruleset

from rmdsl.engine import evaluate as evaluate_module
from rmdsl.engine.evaluate import Evaluator, TimerChanges, triggers_of
from rmdsl.lang.context import EvalContext
from rmdsl.lang.schema import Scope, Trigger
from rmdsl.rules.model import Action, Rule

ALERT = (Action("alert"),)


def counted(
    rid: str, seen: list[str], on: tuple[Trigger, ...], *, scope: Scope = Scope.ACCOUNT
) -> Rule:
    """A rule that never holds and notes each evaluation in `seen`."""

    def when(ctx: EvalContext) -> bool:
        seen.append(rid)
        return False

    return rule(rid, when, ALERT, scope=scope, on=on)


def switch(rid: str, state: dict[str, bool], on: tuple[Trigger, ...]) -> Rule:
    """A rule that holds while state[rid] is True."""
    return rule(rid, lambda ctx: state[rid], ALERT, on=on)


async def test_each_kind_runs_only_the_rules_its_triggers_name() -> None:
    seen: list[str] = []
    fills = counted("on_fill", seen, (Trigger.FILL,))
    positions = counted("on_position", seen, (Trigger.POSITION,))
    quotes = counted("on_quote", seen, (Trigger.QUOTE, Trigger.POSITION), scope=Scope.POSITION)
    orders = counted("on_order", seen, (Trigger.ORDER,))
    h = await harness(ruleset(fills, positions, quotes, orders))
    await h.feed(fill(1, at(0)))
    assert seen == ["on_fill"]
    seen.clear()
    await h.feed(position(at(0), 1))
    assert seen == ["on_position", "on_quote"]
    seen.clear()
    await h.feed(quote(at(1), 21001), quote(at(2), 5000, contract=ES))
    assert seen == ["on_quote"]  # the ES quote: no position in ES, nothing to evaluate
    seen.clear()
    await h.feed(order(9, at(3)))
    assert seen == ["on_order"]


async def test_a_closing_fill_runs_a_rule_of_both_its_triggers_once_in_rule_order() -> None:
    seen: list[str] = []
    rules = (
        counted("a_trade", seen, (Trigger.TRADE,)),
        counted("b_both", seen, (Trigger.FILL, Trigger.TRADE)),
        counted("c_fill", seen, (Trigger.FILL,)),
    )
    h = await harness(ruleset(*rules))
    await h.feed(fill(1, at(0)), fill(2, at(1), pnl=-10))
    ev = h.engine.evaluator
    # what evaluate() ran before the runs were cached: per trigger, its rules, each once
    expected: list[str] = []
    for trigger in triggers_of(fill(3, at(2), pnl=5)):
        expected += [r.id for r in ev.by_trigger[trigger] if r.id not in expected]
    assert seen == ["b_both", "c_fill", *expected]
    assert sorted(expected) == ["a_trade", "b_both", "c_fill"]


async def test_a_rule_added_by_a_reload_runs_at_the_next_event_of_its_kind() -> None:
    seen: list[str] = []
    first = counted("first", seen, (Trigger.FILL,))
    h = await harness(ruleset(first))
    await h.feed(fill(1, at(0)))  # the fill's run is made (and kept) here
    state = {"added": False}  # false at the swap (which evaluates every rule at once)
    await h.engine.swap_ruleset(ruleset(switch("added", state, (Trigger.FILL,))))
    seen.clear()
    state["added"] = True
    await h.feed(fill(2, at(1)))
    assert seen == []  # "first" is gone with the old ruleset
    assert [r.rule_name for r in h.records] == ["added"]


async def test_a_latched_rule_rearms_when_seen_false_and_fires_again() -> None:
    state = {"flag": True}
    h = await harness(ruleset(switch("flag", state, (Trigger.POSITION,))))
    await h.feed(position(at(0), 1), order(9, at(0)), position(at(1), 2))
    assert [r.rule_name for r in h.records] == ["flag"]  # latched: once while it holds
    assert not h.engine.evaluator.timers.running  # protected: no grace timer either
    state["flag"] = False
    await h.feed(position(at(2), 1))
    assert "flag|account" not in h.engine.evaluator.latched
    state["flag"] = True
    await h.feed(position(at(3), 2))
    assert [r.rule_name for r in h.records] == ["flag", "flag"]


async def test_a_false_rule_forgets_its_timer_while_another_rule_is_latched() -> None:
    state = {"held": True, "slow": True}
    slow = rule("slow", lambda c: state["slow"], ALERT, on=(Trigger.POSITION,), for_ms=60_000)
    h = await harness(ruleset(switch("held", state, (Trigger.POSITION,)), slow))
    await h.feed(position(at(0), 1), order(9, at(0)))
    assert "held|account" in h.engine.evaluator.latched
    assert "slow|account" in h.engine.evaluator.timers
    state["slow"] = False
    await h.feed(position(at(1), 2))
    assert "slow|account" not in h.engine.evaluator.timers
    assert "held|account" in h.engine.evaluator.latched


async def test_every_evaluation_is_timed_in_the_rules_series() -> None:
    seen: list[str] = []
    per_position = counted("per_position", seen, (Trigger.POSITION,), scope=Scope.POSITION)
    h = await harness(ruleset(per_position))
    series = h.engine.metrics.rules["per_position"]
    before = series.count
    await h.feed(position(at(0), 1), position(at(1), 1, contract=ES))
    assert len(seen) == 3  # one entity at the first event, two at the second
    assert series.count - before == 3


def slow_clock(step_ns: int) -> Callable[[], int]:
    now = [0]

    def perf_counter_ns() -> int:
        now[0] += step_ns
        return now[0]

    return perf_counter_ns


async def test_a_slow_evaluation_alerts_and_a_fast_one_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    h = await harness(ruleset(counted("slowish", seen, (Trigger.FILL,))))
    ev: Evaluator = h.engine.evaluator
    fake = types.SimpleNamespace(perf_counter_ns=slow_clock(20_000_000), monotonic_ns=int)
    monkeypatch.setattr(evaluate_module, "time", fake)
    ev.evaluate(fill(1, at(0)), TimerChanges())  # exactly 20 ms: not over the threshold
    assert not [a for a in h.notifier.alerts if "slowish" in a.body]
    fake.perf_counter_ns = slow_clock(20_000_001)
    ev.evaluate(fill(2, at(0)), TimerChanges())
    (alert,) = [a for a in h.notifier.alerts if "slowish" in a.body]
    assert alert.fields["metric"] == "rule_evaluation_ms:slowish"


def noting(rid: str, seen: list[object], scope: Scope, on: tuple[Trigger, ...]) -> Rule:
    """A rule that never holds and notes the entity bound for it."""
    attribute = {
        Scope.POSITION: "position",
        Scope.TRADE: "trade",
        Scope.SYMBOL: "symbol",
        Scope.ORDER: "order",
    }

    def when(ctx: EvalContext) -> bool:
        bound = getattr(ctx, attribute[scope])
        seen.append(bound if isinstance(bound, str) else (rid, bound.size))
        return False

    return rule(rid, when, ALERT, scope=scope, on=on)


async def test_each_step_binds_its_own_entities_for_every_rule_of_a_scope() -> None:
    seen: list[object] = []
    rules = (
        noting("t1", seen, Scope.TRADE, (Trigger.FILL,)),
        noting("t2", seen, Scope.TRADE, (Trigger.FILL,)),
        noting("p", seen, Scope.POSITION, (Trigger.QUOTE,)),
        noting("s", seen, Scope.SYMBOL, (Trigger.QUOTE,)),
    )
    h = await harness(ruleset(*rules))
    await h.feed(fill(1, at(0), size=1), fill(2, at(1), size=2))
    assert seen == [("t1", 1), ("t2", 1), ("t1", 2), ("t2", 2)]  # each fill its own view
    seen.clear()
    await h.feed(position(at(2), 3), position(at(2), 1, contract=ES), quote(at(3), 21001))
    assert seen == [("p", 3), "MNQ"]  # the quote's contract only
    seen.clear()
    await h.feed(position(at(4), 2), quote(at(5), 21002))
    assert seen == [("p", 2), "MNQ"]  # listed again at each step: the new size
    ctx = h.engine.state.ctx
    assert ctx.position is None and ctx.trade is None and ctx.symbol is None


async def test_an_order_event_binds_its_order_and_a_reload_every_working_order() -> None:
    seen: list[object] = []
    orders = noting("orders", seen, Scope.ORDER, (Trigger.ORDER,))
    h = await harness(ruleset(orders))
    await h.feed(position(at(0), 3), order(7, at(1), size=1), order(8, at(2), size=2))
    assert seen == [("orders", 1), ("orders", 2)]  # each order event: its own order only
    seen.clear()
    await h.engine.swap_ruleset(ruleset(orders))  # a reload evaluates every working order
    assert sorted(seen, key=str) == [("orders", 1), ("orders", 2)]
