"""RM855 (rmdsl.rules.firm_lint): a personal limit that a firm profile's locked rule always
reaches first is warned about, with both lines; one that can act first, or that is not
comparable, is not. The golden case tests/golden/check/rm855_* shows the full text."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmdsl.pipeline import check_ruleset

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "tests/golden/check/firm_base/profile.yaml"


def _warned(tmp_path: Path, rules: str, params: str = "", extends: Path = PROFILE) -> list[str]:
    """The rule ids RM855 names, for a personal file with these rules on the profile."""
    path = tmp_path / "mine.yaml"
    path.write_text(
        f"rmdsl: 1\nname: mine\nextends: {extends}\nparams:\n  mll_buffer: $200\n{params}"
        f"rules:\n{rules}",
        encoding="utf-8",
    )
    result = check_ruleset(path)
    assert result.ok, [d.render() for d in result.diagnostics]
    found = [d for d in result.diagnostics if d.code == "RM855"]
    for d in found:
        assert d.path == str(path) and len(d.notes) == 2
        assert d.notes[0].startswith(f"personal: {path}:") and d.notes[1].startswith("firm: ")
    return [d.message.split("`")[1] for d in found]


def _rule(rule_id: str, when: str, do: str = "[flatten]") -> str:
    return f"  {rule_id}:\n    when: {when}\n    do: {do}\n"


@pytest.mark.parametrize(
    ("when", "warned"),
    [
        ("day.realized_pnl <= -$1800", True),  # the guard acts at a loss of 2000 - 200
        ("day.realized_pnl <= -$1799.99", False),  # a cent before it
        ("day.realized_pnl < -$1800", True),  # past it: later still
        ("day.pnl <= -$2500", True),
        ("week.realized_pnl <= -$1800", True),  # the MLL's net has lost as much
        ("-$1800 >= day.realized_pnl", True),  # the mirror image
        ("positions.mini_equivalents > 5", True),  # the firm acts at > 5 too: never before
        ("positions.mini_equivalents >= 5", False),  # acts at exactly 5, the firm does not
        ("5 < positions.mini_equivalents", True),
        ("positions.contracts > 9", False),  # gross contracts are not mini-equivalents
        ("positions.count > 0 and now.time >= 15:08", True),  # with the firm's flatten
        ("positions.count > 0 and now.time >= 15:07:59", False),
        ("positions.count > 0 and now.time in 16:00..16:30", True),  # later in the trading day
        ("positions.count > 0 and now.time in 17:30..18:00", False),  # after the 17:00 reset
        ("positions.count > 0 and now.time >= 02:00", False),  # early in the trading day
    ],
)
def test_personal_limits_against_the_firm(tmp_path: Path, when: str, warned: bool) -> None:
    assert _warned(tmp_path, _rule("mine", when)) == (["mine"] if warned else [])


def test_an_alert_or_a_disabled_rule_is_not_a_limit(tmp_path: Path) -> None:
    rules = _rule("note", "day.realized_pnl <= -$5000", "[alert]") + _rule(
        "off", "day.realized_pnl <= -$5000"
    ).replace("    do: [flatten]\n", "    do: [flatten]\n    enabled: false\n")
    assert _warned(tmp_path, rules) == []


def test_a_time_limit_that_does_not_flatten_is_not_compared(tmp_path: Path) -> None:
    # a late reduce-only window is not a later flatten
    assert (
        _warned(tmp_path, _rule("late", "now.time >= 15:20", "[reduce_only(until: reset)]")) == []
    )


def test_the_threshold_from_a_param_is_shown_where_it_is_set(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        f"rmdsl: 1\nname: mine\nextends: {PROFILE}\nparams:\n  cap: 7\nrules:\n"
        + _rule("cap", "positions.mini_equivalents > params.cap", "[reduce_position(to: 5)]"),
        encoding="utf-8",
    )
    [diag] = [d for d in check_ruleset(path).diagnostics if d.code == "RM855"]
    assert diag.span is not None and diag.span.line == 8
    assert f"params.cap = 7 at {path}:5" in diag.notes[0]
    assert diag.notes[1].startswith(f"firm: {PROFILE}:15: `positions.mini_equivalents > ")
    assert f"params.max_position = 5 at {PROFILE}:8" in diag.notes[1]


def test_without_a_locked_base_nothing_is_compared(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(PROFILE.read_text().replace("    locked: true\n", ""), encoding="utf-8")
    assert _warned(tmp_path, _rule("mine", "positions.mini_equivalents > 9"), extends=base) == []


def test_the_shipped_personal_ruleset_has_no_limit_the_firm_always_beats() -> None:
    result = check_ruleset(ROOT / "rulesets/topstep.yaml")
    assert result.ok and not [d for d in result.diagnostics if d.code == "RM855"]


def test_a_personal_daily_loss_past_the_shipped_50k_mll_is_warned(tmp_path: Path) -> None:
    shipped = ROOT / "rulesets/topstep/50k.yaml"
    found = _warned(tmp_path, _rule("mine", "day.realized_pnl <= -$1800"), extends=shipped)
    assert found == ["mine"]  # 50K: $2,000 distance, $200 buffer
