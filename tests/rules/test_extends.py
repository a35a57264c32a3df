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
