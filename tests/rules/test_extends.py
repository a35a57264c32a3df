"""extends: field-by-field merge, directional params both ways, locked rules, file list."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from rmdsl.lang.context import EvalContext
from rmdsl.pipeline import check_ruleset

BASE = """rmdsl: 1
name: base
params:
  daily_loss: {value: -$1000, stricter: higher}
  max_contracts: {value: 5, stricter: lower}
  note_limit: 3
rules:
  daily_loss:
    when: day.realized_pnl <= params.daily_loss
    do: [flatten, lockout(until: reset)]
    severity: critical
  too_many:
    when: positions.contracts > params.max_contracts
    do: [reduce_position(to: params.max_contracts)]
    locked: true
  notes:
    when: day.trades > params.note_limit
    do: [alert]
"""


def _check(tmp_path: Path, child: str) -> tuple[object, list[str]]:
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    path = tmp_path / "child.yaml"
    path.write_text("rmdsl: 1\nname: child\nextends: base.yaml\n" + child, encoding="utf-8")
    result = check_ruleset(path)
    return result.ruleset, [d.code for d in result.diagnostics if d.is_error]


def test_merge_field_by_field(tmp_path: Path) -> None:
    ruleset, errors = _check(tmp_path, "rules:\n  daily_loss:\n    severity: warning\n")
    assert errors == []
    assert ruleset is not None
    rule = next(r for r in ruleset.rules if r.id == "daily_loss")  # type: ignore[attr-defined]
    assert rule.severity == "warning"
    assert [a.name for a in rule.actions] == ["flatten", "lockout"]  # kept from the base
    ctx = EvalContext(params=ruleset.param_values())  # type: ignore[attr-defined]
    ctx.day.realized_pnl = Decimal(-1000)
    assert rule.when(ctx) is True
    assert len(ruleset.files) == 2  # type: ignore[attr-defined]


def test_directional_higher_tightens_and_rejects_loosening(tmp_path: Path) -> None:
    ruleset, errors = _check(tmp_path, "params:\n  daily_loss: -$800\n")
    assert errors == [] and ruleset is not None
    assert ruleset.params["daily_loss"].value == Decimal(-800)  # type: ignore[attr-defined]
    assert _check(tmp_path, "params:\n  daily_loss: -$1000.01\n")[1] == ["RM404"]


def test_directional_lower_tightens_and_rejects_loosening(tmp_path: Path) -> None:
    ruleset, errors = _check(tmp_path, "params:\n  max_contracts: 2\n")
    assert errors == [] and ruleset is not None
    assert _check(tmp_path, "params:\n  max_contracts: 6\n")[1] == ["RM404"]


def test_plain_param_moves_freely(tmp_path: Path) -> None:
    assert _check(tmp_path, "params:\n  note_limit: 30\n")[1] == []


def test_stricter_cannot_be_flipped(tmp_path: Path) -> None:
    child = "params:\n  daily_loss: {value: -$500, stricter: lower}\n"
    assert _check(tmp_path, child)[1] == ["RM405"]


def test_locked_rule_cannot_be_disabled_or_changed(tmp_path: Path) -> None:
    assert _check(tmp_path, "rules:\n  too_many:\n    enabled: false\n")[1] == ["RM403"]
    assert _check(tmp_path, "rules:\n  too_many:\n    locked: false\n")[1] == ["RM403"]


def test_child_may_lock_and_add(tmp_path: Path) -> None:
    child = (
        "rules:\n  notes:\n    locked: true\n  extra:\n    when: day.losses > 2\n    do: [alert]\n"
    )
    ruleset, errors = _check(tmp_path, child)
    assert errors == [] and ruleset is not None
    ids = {r.id: r for r in ruleset.rules}  # type: ignore[attr-defined]
    assert ids["notes"].locked and "extra" in ids


def test_list_of_bases_later_wins(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("rmdsl: 1\nname: a\nparams:\n  n: 1\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("rmdsl: 1\nname: b\nparams:\n  n: 2\n", encoding="utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(
        "rmdsl: 1\nname: c\nextends: [a.yaml, b.yaml]\nrules:\n"
        "  r:\n    when: day.trades > params.n\n    do: [alert]\n",
        encoding="utf-8",
    )
    ruleset = check_ruleset(path).ruleset
    assert ruleset is not None
    assert ruleset.params["n"].value == 2
    assert ruleset.name == "c"


def test_inputs_and_digest(tmp_path: Path) -> None:
    ruleset, _ = _check(tmp_path, "")
    assert ruleset is not None
    rule = next(r for r in ruleset.rules if r.id == "daily_loss")  # type: ignore[attr-defined]
    assert [name for name, _ in rule.inputs] == ["day.realized_pnl", "params.daily_loss"]
    assert len(ruleset.digest) == 64  # type: ignore[attr-defined]


# --- the calendar under locked rules (docs/extends.md) -------------------------------------

CAL_BASE = """rmdsl: 1
name: cal
{settings}
rules:
  {rule_id}:
    when: {when}
    do: [{do}]
    locked: true
"""
SESSION_BLOCK = "positions.count > 0 and not session.open"


def _cal(tmp_path: Path, child: str, base_settings: str = "", **rule: str) -> list[str]:
    """Error messages of a child of a base with one locked rule (default: a reset lockout)."""
    when = rule.get("when", "day.realized_pnl <= -$500")
    do = rule.get("do", "flatten, lockout(until: reset)")
    base = CAL_BASE.format(settings=base_settings, rule_id="r", when=when, do=do)
    (tmp_path / "cal.yaml").write_text(base, encoding="utf-8")
    path = tmp_path / "child.yaml"
    path.write_text("rmdsl: 1\nname: child\nextends: cal.yaml\n" + child, encoding="utf-8")
    result = check_ruleset(path)
    shown = [f"{d.code}: {d.message}" for d in result.diagnostics if d.is_error]
    return [text.replace(f"{tmp_path}/", "") for text in shown]


def test_reset_under_a_locked_rule_cannot_move(tmp_path: Path) -> None:
    (err,) = _cal(tmp_path, 'reset: "10:00"\n', 'reset: "17:00"')
    assert err.startswith("RM409: reset 10:00 moves the trading day under a locked rule")
    assert "`r` (locked in cal.yaml:8) lifts at its reset 17:00 (cal.yaml:3)" in err
    assert _cal(tmp_path, 'reset: "17:00"\n', 'reset: "17:00"') == []  # restating is fine


def test_default_reset_is_locked_too(tmp_path: Path) -> None:
    (err,) = _cal(tmp_path, 'reset: "16:00"\n', when="day.trades > 3", do="alert")
    assert "counts `day.*` from its reset 17:00 (the default)" in err


def test_any_locked_rule_locks_the_timezone(tmp_path: Path) -> None:
    (err,) = _cal(
        tmp_path, "timezone: Europe/London\n", when="positions.contracts > 3", do="flatten"
    )
    assert err.startswith("RM408: timezone `Europe/London` moves the clock")
    assert "runs on the trading day that ends at its reset 17:00 America/Chicago" in err


def test_session_is_locked_only_by_a_rule_that_reads_it(tmp_path: Path) -> None:
    narrower = 'session: {hours: "09:00..15:10", days: [mon, tue, wed, thu, fri]}\n'
    assert _cal(tmp_path, narrower) == []  # the locked rule never reads the session
    (err,) = _cal(tmp_path, narrower, when=SESSION_BLOCK, do="flatten")
    assert err.startswith("RM410: session 09:00..15:10 [mon, tue, wed, thu, fri] changes")
    (err,) = _cal(tmp_path, narrower, when="day.trades > 3", do="lockout(until: session_start)")
    assert "locks out until session_start" in err


def test_holidays_may_be_added_under_a_closed_session_rule(tmp_path: Path) -> None:
    base = "holidays: [2026-12-25]"
    added = "holidays: [2026-12-24, 2026-12-25]\n"
    assert _cal(tmp_path, added, base, when=SESSION_BLOCK, do="flatten") == []
    ends = "session.ends_in < 10m and positions.count > 0"
    assert _cal(tmp_path, added, base, when=ends, do="flatten") == []
    fills = "session.fills > 40"
    assert _cal(tmp_path, added, base, when=fills, do="lockout(until: session_start)") == []
    (err,) = _cal(tmp_path, "holidays: [2026-12-24]\n", base, when=SESSION_BLOCK, do="flatten")
    assert err.startswith("RM411: holidays drop 2026-12-25 of the base (cal.yaml:3)")


def test_holidays_that_loosen_a_locked_rule_are_refused(tmp_path: Path) -> None:
    added = "holidays: [2026-12-24]\n"
    for when, read in (
        ("session.open and positions.contracts > 2", "session.open"),
        ("not (session.ends_in < 10m) and positions.count > 0", "session.ends_in"),
        ("10 > session.fills and positions.count > 0", "session.fills"),
        ("(session.open == true) and positions.count > 0", "session.open"),
    ):
        (err,) = _cal(tmp_path, added, when=when, do="flatten")
        assert err.startswith("RM411: holiday 2026-12-24 would loosen a locked rule"), when
        assert f"fires on `{read}`" in err, when


def test_a_sibling_before_the_base_cannot_move_its_calendar(tmp_path: Path) -> None:
    """`extends: [pre.yaml, cal.yaml]`: pre.yaml is merged first, so a later-wins merge alone
    would keep its reset where the base writes none."""
    (tmp_path / "pre.yaml").write_text('rmdsl: 1\nname: pre\nreset: "10:00"\n', encoding="utf-8")
    base = CAL_BASE.format(settings="", rule_id="r", when="day.trades > 3", do="alert")
    (tmp_path / "cal.yaml").write_text(base, encoding="utf-8")
    path = tmp_path / "child.yaml"
    path.write_text("rmdsl: 1\nname: c\nextends: [pre.yaml, cal.yaml]\n", encoding="utf-8")
    (diag,) = [d for d in check_ruleset(path).diagnostics if d.is_error]
    assert (diag.code, Path(diag.path).name) == ("RM409", "pre.yaml")


def test_a_sibling_before_the_base_cannot_preset_a_locked_rule(tmp_path: Path) -> None:
    pre = "rmdsl: 1\nname: pre\nrules:\n  r:\n    for: 300d\n    on: [clock]\n"
    (tmp_path / "pre.yaml").write_text(pre, encoding="utf-8")
    base = CAL_BASE.format(settings="", rule_id="r", when="day.trades > 3", do="alert")
    (tmp_path / "cal.yaml").write_text(base, encoding="utf-8")
    path = tmp_path / "child.yaml"
    path.write_text("rmdsl: 1\nname: c\nextends: [pre.yaml, cal.yaml]\n", encoding="utf-8")
    errors = [d for d in check_ruleset(path).diagnostics if d.is_error and d.code == "RM412"]
    assert [(Path(d.path).name, d.span.line if d.span else 0) for d in errors] == [
        ("pre.yaml", 5),
        ("pre.yaml", 6),
    ]


def test_a_base_of_the_locking_file_may_shape_the_rule(tmp_path: Path) -> None:
    """base0 writes the rule, cal.yaml extends base0 and locks it: base0's fields are vouched."""
    base0 = "rmdsl: 1\nname: b0\nrules:\n  r:\n    when: day.trades > 3\n    do: [alert]\n"
    (tmp_path / "base0.yaml").write_text(base0, encoding="utf-8")
    cal = "rmdsl: 1\nname: cal\nextends: base0.yaml\nrules:\n  r:\n    locked: true\n"
    (tmp_path / "cal.yaml").write_text(cal, encoding="utf-8")
    path = tmp_path / "child.yaml"
    path.write_text("rmdsl: 1\nname: c\nextends: cal.yaml\n", encoding="utf-8")
    result = check_ruleset(path)
    assert [d.code for d in result.diagnostics if d.is_error] == []


def test_without_locked_rules_the_calendar_is_free(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        'rmdsl: 1\nname: b\nreset: "17:00"\nrules:\n  r:\n    when: day.trades > 3\n'
        "    do: [alert]\n",
        encoding="utf-8",
    )
    path = tmp_path / "child.yaml"
    path.write_text(
        'rmdsl: 1\nname: c\nextends: base.yaml\nreset: "10:00"\ntimezone: Europe/London\n'
        'session: {hours: "00:00..23:00"}\n',
        encoding="utf-8",
    )
    result = check_ruleset(path)
    assert result.ruleset is not None and result.ruleset.reset.hour == 10


def test_every_extends_path_error_is_located(tmp_path: Path) -> None:
    """Paths the OS refuses or cannot follow are RM errors at the `extends` entry, never
    a ValueError or OSError out of check_ruleset."""
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    (tmp_path / "dir.yaml").mkdir()
    cases = {
        '"base\\0.yaml"': ("RM402", "contains a NUL byte"),
        "x" * 300 + ".yaml": ("RM407", "file name too long"),
        "loop.yaml": ("RM40", "a symlink loop|symbolic links"),  # 3.13+: ELOOP at the stat
        "dir.yaml": ("RM407", "is not a file (a directory)"),
        "missing/base.yaml": ("RM400", "not found"),
    }
    for target, (code, text) in cases.items():
        path = tmp_path / "child.yaml"
        path.write_text(f"rmdsl: 1\nname: c\nextends: {target}\n", encoding="utf-8")
        (diag,) = [d for d in check_ruleset(path).diagnostics if d.is_error]
        found = any(alternative in diag.message for alternative in text.split("|"))
        assert diag.code.startswith(code) and found, (target, diag)
        assert diag.span is not None and (diag.span.line, diag.span.col) == (3, 10), target


def test_no_stop_loss_grace_only_tightens_under_locked_rules(tmp_path: Path) -> None:
    nslg = "rules:\n  no_stop_loss_grace:\n    {}\n"
    assert _cal(tmp_path, nslg.format("grace: 1m")) == []
    assert _cal(tmp_path, nslg.format("action: flatten")) == []
    assert _cal(tmp_path, nslg.format("severity: warning")) == []  # notification only
    (err,) = _cal(tmp_path, nslg.format("grace: 3m"))
    assert err.startswith("RM413: `grace` 3m of no_stop_loss_grace is longer than the base's 2m")
    assert "(the default)" in err


def test_no_stop_loss_grace_is_free_without_locked_rules(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        "rmdsl: 1\nname: b\nrules:\n  no_stop_loss_grace:\n    grace: 1m\n", encoding="utf-8"
    )
    path = tmp_path / "child.yaml"
    path.write_text(
        "rmdsl: 1\nname: c\nextends: base.yaml\nrules:\n  no_stop_loss_grace:\n    grace: 5m\n",
        encoding="utf-8",
    )
    result = check_ruleset(path)
    assert result.ruleset is not None and result.ruleset.no_stop_loss_grace.grace_ms == 300_000
