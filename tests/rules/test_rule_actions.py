"""`do:` lists: documented syntax in flow and block lists, normalisation, params as arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmdsl.errors import CheckError
from rmdsl.lang.schema import Scope, UntilKind
from rmdsl.pipeline import check_ruleset, load_ruleset
from rmdsl.rules.model import Action


def _actions(tmp_path: Path, do: str, scope: str = "account") -> tuple[Action, ...]:
    path = tmp_path / "r.yaml"
    path.write_text(
        "rmdsl: 1\nname: t\nparams:\n  n: 3\n  wait: 90s\nrules:\n  x:\n"
        f"    scope: {scope}\n    when: day.trades > params.n\n    do: {do}\n",
        encoding="utf-8",
    )
    ruleset = load_ruleset(path)
    return ruleset.rules[0].actions


def test_flow_list_with_arguments(tmp_path: Path) -> None:
    actions = _actions(tmp_path, "[flatten, lockout(until: reset), lockout(until: session_start)]")
    assert [(a.name, a.until) for a in actions] == [
        ("flatten", None),
        ("lockout", UntilKind.RESET),
        ("lockout", UntilKind.SESSION_START),
    ]


def test_cooldown_is_a_lockout(tmp_path: Path) -> None:
    (action,) = _actions(tmp_path, "[cooldown(5m)]")
    assert action == Action("lockout", {"until": 300_000})


def test_two_arguments_in_a_flow_list(tmp_path: Path) -> None:
    (action,) = _actions(tmp_path, "[trail_stop(ticks: 8, after: 12)]", scope="position")
    assert action.args == {"ticks": 8, "after": 12}


def test_block_list_and_single_action(tmp_path: Path) -> None:
    actions = _actions(
        tmp_path, '\n      - alert\n      - "trail_stop(ticks: 8, after: 12)"', scope="position"
    )
    assert [a.name for a in actions] == ["alert", "trail_stop"]
    assert [a.name for a in _actions(tmp_path, "flatten")] == ["flatten"]


def test_param_argument(tmp_path: Path) -> None:
    actions = _actions(tmp_path, "[reduce_position(to: params.n), lockout(until: params.wait)]")
    assert actions[0].args == {"to": 3}
    assert actions[1].until == 90_000


def test_param_argument_of_the_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(CheckError) as info:
        _actions(tmp_path, "[reduce_position(to: params.wait)]")
    assert [d.code for d in info.value.diagnostics] == ["RM044"]


def test_scope_restriction(tmp_path: Path) -> None:
    assert _actions(tmp_path, "[close_position]", scope=Scope.SYMBOL.value)[0].name == (
        "close_position"
    )
    path = tmp_path / "r.yaml"
    assert check_ruleset(path).ruleset is not None


def test_an_action_is_parsed_by_the_grammar() -> None:
    from rmdsl.lang import ast
    from rmdsl.lang.parser import parse_action

    call = parse_action("lockout(until: 5m if day.losses > 2 else 1m)", path="r.yaml")
    assert call.name == "lockout" and [a.name for a in call.args] == ["until"]
    assert isinstance(call.args[0].value, ast.IfElse)
    assert parse_action("flatten", path="r.yaml").args == ()


def test_a_syntax_error_inside_the_brackets_is_located_by_the_parser(tmp_path: Path) -> None:
    # the regex reader said only "cannot read argument"; the grammar says what and where
    path = tmp_path / "r.yaml"
    path.write_text(
        "rmdsl: 1\nname: t\nrules:\n  x:\n    scope: position\n    when: day.trades > 3\n"
        "    do: [reduce_position(to: (1 +))]\n",
        encoding="utf-8",
    )
    (diag,) = [d for d in check_ruleset(path).diagnostics if d.is_error]
    assert (diag.code, diag.span.line, diag.span.col) == ("RM100", 7, 34)  # type: ignore[union-attr]
    assert "unexpected `)`, expected an expression" in diag.message


def test_a_computed_argument_is_type_checked(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "rmdsl: 1\nname: t\nrules:\n  x:\n    when: day.trades > 3\n"
        "    do: [cooldown(for: day.trades * 2)]\n",
        encoding="utf-8",
    )
    (diag,) = [d for d in check_ruleset(path).diagnostics if d.is_error]
    assert diag.span is not None and (diag.span.line, diag.span.col) == (6, 24)
    assert "duration" in diag.message
