"""NoStopLossGrace is mandatory: one test per way someone might try to switch it off."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmdsl.pipeline import check_ruleset

HEAD = "rmdsl: 1\nname: t\nrules:\n"


def _codes(tmp_path: Path, body: str, name: str = "r.yaml") -> list[tuple[str, int | None]]:
    path = tmp_path / name
    path.write_text(HEAD + body, encoding="utf-8")
    result = check_ruleset(path)
    assert result.ruleset is None, "the ruleset must be rejected"
    return [(d.code, d.span.line if d.span else None) for d in result.diagnostics if d.is_error]


def test_default_when_absent(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("rmdsl: 1\nname: t\n", encoding="utf-8")
    ruleset = check_ruleset(path).ruleset
    assert ruleset is not None
    assert ruleset.no_stop_loss_grace.grace_ms == 120_000
    assert ruleset.no_stop_loss_grace.action == "close_position"


def test_settable_fields(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    body = "  no_stop_loss_grace: {grace: 30s, action: flatten, severity: warning, enabled: true}\n"
    path.write_text(HEAD + body, encoding="utf-8")
    ruleset = check_ruleset(path).ruleset
    assert ruleset is not None
    assert ruleset.no_stop_loss_grace.grace_ms == 30_000
    assert ruleset.no_stop_loss_grace.action == "flatten"


@pytest.mark.parametrize("value", ["false", '"no"', "no", "off", "'false'", "0", "null", "~", "n"])
def test_enabled_anything_but_true(tmp_path: Path, value: str) -> None:
    codes = _codes(tmp_path, f"  no_stop_loss_grace:\n    enabled: {value}\n")
    assert codes == [("RM300", 5)]


@pytest.mark.parametrize("key", ["when", "do", "for", "scope", "on", "locked"])
def test_fixed_logic_fields(tmp_path: Path, key: str) -> None:
    codes = _codes(tmp_path, f"  no_stop_loss_grace:\n    {key}: x\n")
    assert codes == [("RM301", 5)]


@pytest.mark.parametrize("grace", ["0s", "500ms", "11m", "1h"])
def test_grace_out_of_range(tmp_path: Path, grace: str) -> None:
    assert _codes(tmp_path, f"  no_stop_loss_grace:\n    grace: {grace}\n") == [("RM302", 5)]


def test_grace_bounds_inclusive(tmp_path: Path) -> None:
    for grace in ("1s", "10m"):
        path = tmp_path / "r.yaml"
        path.write_text(HEAD + f"  no_stop_loss_grace: {{grace: {grace}}}\n", encoding="utf-8")
        assert check_ruleset(path).ruleset is not None


@pytest.mark.parametrize("value", ["false", "null", "off", "[]", '""'])
def test_rule_value_not_a_mapping(tmp_path: Path, value: str) -> None:
    assert _codes(tmp_path, f"  no_stop_loss_grace: {value}\n") == [("RM304", 4)]


def test_bypass_anchor_alias(tmp_path: Path) -> None:
    body = "  a: &off {enabled: false}\n  no_stop_loss_grace: *off\n"
    assert _codes(tmp_path, body)[0][0] == "RM006"


def test_bypass_merge_key(tmp_path: Path) -> None:
    body = "  no_stop_loss_grace:\n    <<: {enabled: false}\n"
    assert _codes(tmp_path, body) == [("RM010", 5)]


def test_bypass_bool_tag(tmp_path: Path) -> None:
    body = '  no_stop_loss_grace:\n    enabled: !!bool "false"\n'
    assert _codes(tmp_path, body) == [("RM008", 5)]


def test_bypass_custom_tag(tmp_path: Path) -> None:
    body = "  no_stop_loss_grace: !disable\n    grace: 2m\n"
    assert _codes(tmp_path, body)[0][0] == "RM008"


def test_bypass_duplicate_key_in_rule(tmp_path: Path) -> None:
    body = "  no_stop_loss_grace:\n    enabled: true\n    enabled: false\n"
    assert _codes(tmp_path, body) == [("RM011", 6)]


def test_bypass_duplicate_rule_key(tmp_path: Path) -> None:
    body = "  no_stop_loss_grace: {grace: 2m}\n  no_stop_loss_grace: false\n"
    assert _codes(tmp_path, body) == [("RM011", 5)]


def test_bypass_yaml_1_1_directive(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    text = "%YAML 1.1\n---\n" + HEAD + "  no_stop_loss_grace:\n    enabled: no\n"
    path.write_text(text, encoding="utf-8")
    result = check_ruleset(path)
    assert result.ruleset is None
    assert [d.code for d in result.diagnostics if d.is_error] == ["RM300"]


def test_bypass_second_document(tmp_path: Path) -> None:
    body = "  no_stop_loss_grace: {grace: 2m}\n---\nrules:\n  no_stop_loss_grace: false\n"
    assert _codes(tmp_path, body)[0][0] == "RM005"


def test_bypass_in_extended_file_points_at_base(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        HEAD + "  no_stop_loss_grace:\n    enabled: off\n", encoding="utf-8"
    )
    child = tmp_path / "child.yaml"
    child.write_text("rmdsl: 1\nname: c\nextends: base.yaml\n", encoding="utf-8")
    result = check_ruleset(child)
    assert result.ruleset is None
    (diag,) = [d for d in result.diagnostics if d.is_error]
    assert diag.code == "RM300"
    assert diag.path.endswith("base.yaml")
    assert diag.span is not None and diag.span.line == 5


def test_child_cannot_reenable_a_disabled_base(tmp_path: Path) -> None:
    # the base's `enabled: false` is rejected even though the child says true
    (tmp_path / "base.yaml").write_text(
        HEAD + "  no_stop_loss_grace:\n    enabled: false\n", encoding="utf-8"
    )
    child = tmp_path / "child.yaml"
    child.write_text(
        "rmdsl: 1\nname: c\nextends: base.yaml\nrules:\n  no_stop_loss_grace: {enabled: true}\n",
        encoding="utf-8",
    )
    assert check_ruleset(child).ruleset is None


def test_rule_id_case_variant_is_not_a_way_around(tmp_path: Path) -> None:
    assert _codes(tmp_path, "  No_Stop_Loss_Grace: {enabled: false}\n") == [("RM030", 4)]


def test_unknown_top_level_switch(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("rmdsl: 1\nname: t\nbuiltins: false\n", encoding="utf-8")
    result = check_ruleset(path)
    assert [d.code for d in result.diagnostics if d.is_error] == ["RM020"]
