"""replay's summary adds only figures that add up (docs/engine.md, "`rmdsl replay`")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rmdsl.commands.replay_summary import Figure, additive, summarize


def fig(key: int, rule: str, saved: str, *covers: str) -> Figure:
    return Figure(
        key, rule, f"2026-03-02T14:{40 + key}:00+00:00", Decimal(saved), frozenset(covers)
    )


def firing(f: Figure | None, rule: str = "", why: str = "") -> dict[str, Any]:
    if f is None:
        return {
            "rule": rule,
            "ts": "t",
            "line": 9,
            "message": "m",
            "impact": None,
            "no_figure": why,
        }
    impact = {"saved": str(f.saved)}
    return {"rule": f.rule, "ts": f.ts, "line": f.key, "message": "m", "impact": impact}


def test_two_rules_measuring_the_same_fill_are_counted_once() -> None:
    grace = fig(1, "no_stop_loss_grace", "486.00", "fill:12")
    unrealized = fig(2, "daily_unrealized_loss", "300.00", "fill:12")  # same closing fill
    lockout = fig(3, "daily_realized_loss", "320.00", "fill:20", "fill:25")
    added, left = additive([grace, unrealized, lockout])
    assert added == [grace, lockout]
    assert left == [(unrealized, grace)]
    summary = summarize(
        [firing(f) for f in (grace, unrealized, lockout)], [grace, unrealized, lockout]
    )
    assert summary["total_saved"] == "806.00"  # not 1106.00
    assert summary["left_out"][0]["rule"] == "daily_unrealized_loss"
    assert summary["left_out"][0]["overlaps"] == "no_stop_loss_grace"
    # per rule: what the rule alone would have done
    assert summary["rules"]["daily_unrealized_loss"]["saved"] == "300.00"


def test_a_position_open_at_the_end_is_one_figure() -> None:
    a = fig(1, "a", "50.00", "open:MNQ")
    b = fig(2, "b", "70.00", "open:MNQ")
    assert additive([a, b]) == ([a], [(b, a)])


def test_a_rule_without_a_figure_says_why_instead_of_zero() -> None:
    summary = summarize([firing(None, "max_contracts", "reduce_position closes nothing")], [])
    rule = summary["rules"]["max_contracts"]
    assert rule["saved"] is None
    assert rule["no_figure"] == {"reduce_position closes nothing": 1}
    assert summary["total_saved"] == "0.00" and summary["added"] == 0
