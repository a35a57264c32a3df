"""A rule whose evaluation raises is loud, never silently false (docs/engine.md, "When a rule
errors"): logged with the rule id and the span, counted, alerted (once a minute per rule),
recorded with outcome `error`, and the other rules keep running."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from enginekit import MNQ, Harness, at, clock, fill, position, rule, ruleset

from rmdsl.contract.events import Side
from rmdsl.engine.persistence import Outcome
from rmdsl.lang.context import EvalContext
from rmdsl.lang.schema import Scope
from rmdsl.pipeline import load_ruleset
from rmdsl.rules.model import Action, Origin, Rule
from rmdsl.source import Span


def _boom(ctx: EvalContext) -> bool:
    raise ZeroDivisionError("division by zero")


def _failing_rule(rid: str = "broken") -> Rule:
    return replace(rule(rid, _boom), when_at=_WHERE)


_WHERE = Origin("rules.yaml", Span(7, 11, 7, 40))


async def test_a_condition_that_raises_is_logged_counted_alerted_and_recorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ok = rule("fine", lambda ctx: ctx.positions.count >= 1, (Action("alert"),))
    h = await Harness(ruleset(_failing_rule(), ok)).start()
    with caplog.at_level(logging.ERROR, logger="rmdsl.engine"):
        records = await h.feed(fill(1, at(1)), position(at(1)))
    errors = [r for r in records if r.outcome is Outcome.ERROR]
    assert [(r.rule_name, r.action, r.error) for r in errors] == [
        ("broken", "when", "ZeroDivisionError: division by zero")
    ]
    assert errors[0].values["where"] == "rules.yaml:7:11"
    assert h.store.enforcements.count(errors[0]) == 1  # in enforcement_history
    assert "rule broken failed in `when` at rules.yaml:7:11" in caplog.text
    assert h.engine.metrics.rule_errors == {"broken": 2}  # the fill and the position
    [alert] = [a for a in h.notifier.alerts if a.title == "rule broken failed"]
    assert alert.severity == "critical" and alert.fields["where"] == "rules.yaml:7:11"
    assert "counts as not fired" in alert.body
    # the evaluation stays total: the other rule fired, the broken one did not act
    assert ("fine", "alert", "ok") in h.fired()
    assert not any(r.rule_name == "broken" and r.outcome is Outcome.OK for r in h.records)


async def test_reports_are_rate_limited_per_rule_but_every_error_is_counted() -> None:
    h = await Harness(ruleset(_failing_rule("a"), _failing_rule("b"))).start()
    for second in range(0, 50, 10):
        await h.feed(clock(at(second)))
    assert h.engine.metrics.rule_errors == {"a": 5, "b": 5}
    assert sorted(a.title for a in h.notifier.alerts) == ["rule a failed", "rule b failed"]
    await h.feed(clock(at(61)))  # a minute after the first report: reported again, with a count
    later = [a for a in h.notifier.alerts if a.title == "rule a failed"][-1]
    assert later.fields["count"] == 5 and "5 errors since the last report" in later.body
    assert len([r for r in h.store.enforcements if r.rule_name == "a"]) == 2
    samples = {(s.name, s.label): s.value for s in h.engine.metrics.samples(at(61), 1)}
    assert samples[("rule_errors.count", "a")] == 6.0


async def test_a_for_timer_whose_condition_raises_at_the_deadline_is_reported() -> None:
    calls = {"n": 0}

    def first_true_then_boom(ctx: EvalContext) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            return True
        raise KeyError("daily_loss")

    r = rule("held", first_true_then_boom, for_ms=5_000)
    h = await Harness(ruleset(r)).start()
    await h.feed(clock(at(0)))
    records = await h.feed(clock(at(6)))
    assert [(x.rule_name, x.action, str(x.outcome)) for x in records] == [("held", "when", "error")]
    assert records[0].error == "KeyError: 'daily_loss'"


async def test_an_action_argument_that_raises_acts_with_its_fallback_and_is_reported() -> None:
    def bad_arg(ctx: EvalContext) -> int:
        raise OverflowError("too big")

    reduce = Action("reduce_position", {}, Span(9, 9, 9, 30), {"to": bad_arg}, path="r.yaml")
    r = rule("cap", _bigger_than_one, (reduce,), scope=Scope.POSITION)
    h = await Harness(ruleset(r)).start()
    records = await h.feed(position(at(1), 3, contract=MNQ))
    assert ("cap", "do: reduce_position(to)", "error") in [
        (x.rule_name, x.action, str(x.outcome)) for x in records
    ]
    error = next(x for x in records if x.outcome is Outcome.ERROR)
    assert error.values["where"] == "r.yaml:9:9" and error.target == MNQ
    assert any(x.rule_name == "cap" and x.outcome is Outcome.OK for x in records)  # it acted


def _bigger_than_one(ctx: EvalContext) -> bool:
    return ctx.position is not None and ctx.position.size > 1


RULESET = """\
rmdsl: 1
name: errors
timezone: America/Chicago
rules:
  pnl_cents:
    # money % money raises once the quotient has more than 28 digits
    when: day.realized_pnl * 10000000000000000000000000000 % $0.03 > $0
    do: [alert]
"""


async def test_a_real_ruleset_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "errors.yaml"
    path.write_text(RULESET, encoding="utf-8")
    rs = load_ruleset(path)
    h = await Harness(rs).start()
    assert await h.feed(fill(1, at(1)), position(at(1))) == []  # zero P&L: no error
    records = await h.feed(fill(2, at(2), pnl=-100, side=Side.SELL))
    [error] = [r for r in records if r.outcome is Outcome.ERROR]
    assert error.values["where"] == f"{path}:7:11"
    assert error.error is not None and error.error.startswith("InvalidOperation")


async def test_a_message_that_raises_still_acts_and_is_reported() -> None:
    def bad_message(ctx: EvalContext) -> str:
        raise ValueError("no such hole")

    r = replace(
        rule("msg", lambda ctx: ctx.positions.count >= 1, (Action("alert"),)),
        message=bad_message,
        message_at=Origin("m.yaml", Span(8, 14, 8, 30)),
    )
    h = await Harness(ruleset(r)).start()
    records = await h.feed(position(at(1)))
    fired = [(x.rule_name, x.action, str(x.outcome), x.reason) for x in records]
    assert ("msg", "alert", "ok", "msg") in fired  # acted, with the rule's id as the message
    error = next(x for x in records if x.outcome is Outcome.ERROR)
    assert (error.action, error.values["where"]) == ("message", "m.yaml:8:14")
    assert "the rule acted with its id as the message" in error.reason
