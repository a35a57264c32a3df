"""Generated predicates for maps, lookups, list globs, arithmetic and if/else: each shape is
generated code and agrees with the reference interpreter."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import pytest
from reference import Reference

from rmdsl.lang import generate
from rmdsl.lang.check import CheckEnv, check_expression
from rmdsl.lang.codegen import compile_expression, compile_predicate
from rmdsl.lang.context import EvalContext, PositionView
from rmdsl.lang.parser import parse_expression
from rmdsl.lang.schema import Scope
from rmdsl.lang.types import INT, MONEY, STRING, list_of, map_of
from rmdsl.pipeline import load_ruleset
from rmdsl.types import Predicate

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {
    "limits": (map_of(INT), MappingProxyType({"MNQ": 2, "ES": 1})),
    "caps": (map_of(MONEY), MappingProxyType({"MES": Decimal("-250.50")})),
    "blocked": (list_of(STRING), ("CL*", "6E")),
    "other": (INT, 3),
}


class Funcs:
    def contracts(self, symbol: str) -> int:
        return {"MNQ": 3, "ES": 1}.get(symbol.upper(), 4)

    def tick_value(self, symbol: str) -> Decimal:
        return Decimal(0)  # unknown: ticks() gives 0


def context(symbol: str | None = "MNQ", **params: object) -> EvalContext:
    values = {name: value for name, (_, value) in PARAMS.items()} | params
    ctx = EvalContext(params=values, funcs=Funcs())  # type: ignore[arg-type]
    ctx.position = None if symbol is None else PositionView(symbol=symbol)
    ctx.day.pnl, ctx.day.realized_pnl = Decimal("-120.25"), Decimal("-20.25")
    return ctx


def generated(text: str) -> tuple[Predicate, Reference, object]:
    expr = parse_expression(text, path="t.yaml")
    checked = check_expression(expr, CheckEnv("t.yaml", Scope.POSITION, PARAMS))
    assert checked.ok, checked.errors
    predicate = compile_predicate(checked)
    code = getattr(predicate, "__code__", None)
    assert code is not None and code.co_filename.startswith("<rmdsl"), "not generated code"
    return predicate, Reference(checked), compile_expression(checked)


def agree(text: str, ctx: EvalContext) -> bool:
    predicate, reference, getter = generated(text)
    expected = reference.run(ctx)
    assert getter(ctx) == expected  # type: ignore[operator]
    assert predicate(ctx) is expected
    return expected  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("symbol", "want"),
    [("MNQ", True), ("mnq", True), ("ES", False), ("mes", True), ("CL", True)],
)
def test_lookup_with_default_and_upper_case_fallback(symbol: str, want: bool) -> None:
    # MNQ: 3 > 2; mnq finds MNQ; ES: 1 > 1 false; mes / CL are missing: 4 > default 0
    assert (
        agree(
            "contracts(position.symbol) > lookup(params.limits, position.symbol, 0)",
            context(symbol),
        )
        is want
    )


@pytest.mark.parametrize(
    ("symbol", "want"), [("MNQ", 2), ("mnq", 2), ("Es", 1), ("mes", 9), ("", 9)]
)
def test_lookup_value_exact_then_upper_case_then_default(symbol: str, want: int) -> None:
    assert agree(f"lookup(params.limits, position.symbol, 9) == {want}", context(symbol)) is True
    assert agree(f'lookup(params.limits, "{symbol}", 9) == {want}', context()) is True


def test_lookup_of_int_map_with_number_default_is_a_number() -> None:
    assert agree("lookup(params.limits, position.symbol, 1.5) == 1.5", context("NQ")) is True
    assert agree("lookup(params.limits, position.symbol, 1.5) == 2", context("MNQ")) is True


def test_lookup_with_a_computed_key_and_money_values() -> None:
    text = 'lookup(params.caps, (position.symbol if position.has_stop else "mes"), -$1) < -$250'
    assert agree(text, context("ES")) is True  # no stop: "mes" -> MES -> -250.50
    assert agree(text, context("mes", caps=MappingProxyType({}))) is False  # default -1


def test_map_membership_is_exact_and_negatable() -> None:
    assert agree("position.symbol in params.limits", context("MNQ")) is True
    assert agree("position.symbol in params.limits", context("mnq")) is False
    assert agree("position.symbol not in params.limits", context("CL")) is True
    assert agree('"ES" in params.limits and not ("NQ" in params.limits)', context()) is True


@pytest.mark.parametrize(
    ("symbol", "blocked", "want"),
    [
        ("CLZ5", ("CL*", "6E"), True),
        ("clz5", ("CL*", "6E"), True),  # globs are case-insensitive
        ("6e", ("CL*", "6E"), True),
        ("6EH6", ("CL*", "6E"), False),  # a glob matches the whole symbol
        ("MNQ", (), False),
        ("M[Q", ("M[[]Q",), True),
        ("ES", ("", "*S"), True),
    ],
)
def test_matches_a_list_param(symbol: str, blocked: tuple[str, ...], want: bool) -> None:
    assert agree("position.symbol matches params.blocked", context(symbol, blocked=blocked)) is want


def test_list_param_matcher_follows_the_param_value() -> None:
    predicate, _, _ = generated("position.symbol matches params.blocked")
    ctx = context("CLZ5")
    assert predicate(ctx) is True
    ctx.params["blocked"] = ("NQ",)
    assert predicate(ctx) is False
    ctx.params["blocked"] = ("nq", "cl*")
    assert predicate(ctx) is True
    ctx.params["blocked"] = ()
    assert predicate(ctx) is False


def test_matches_a_literal_list_constant_or_built_per_call() -> None:
    assert agree('position.symbol matches ["es", "M*"]', context("mnq")) is True
    assert agree('position.symbol matches ["es", "M*"]', context("NQ")) is False
    assert agree('"MNQ" matches [position.symbol, "x"]', context("m*")) is True
    assert agree("position.symbol matches []", context("MNQ")) is False


def test_an_evaluation_error_propagates_for_the_engine_to_report() -> None:
    """No silent False: the engine reports the error as an error of the rule (ruleerrors)."""
    for text in (
        "position.symbol matches params.blocked",
        "lookup(params.limits, position.symbol, 0) >= 0",
        "position.symbol not in params.limits",
        "position.unrealized_pnl <= -$300",
    ):
        predicate, _, _ = generated(text)
        with pytest.raises(AttributeError):
            predicate(context(None))


def test_list_membership_compares_int_with_number() -> None:
    assert agree("params.other in [1.5, 3.0]", context()) is True
    assert agree("params.other in [position.size, 3]", context()) is True
    assert agree('position.symbol in ["ES", position.side]', context("long")) is True


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("day.pnl - day.realized_pnl <= -$100", True),  # exactly -100.00
        ("day.pnl + day.realized_pnl == -$140.50", True),
        ("day.pnl / 0 == $0", True),  # division by zero gives zero
        ("day.pnl % $100 == $79.75", True),  # floor modulo: the sign of the divisor
        ("-day.pnl * 2 == $240.50", True),
        ("position.age * 1.5 == 0s and position.age / 0 == 0s", True),
        ("(position.size if position.has_stop else 1.5) == 1.5", True),  # int branch widened
        ("(params.other if position.has_stop else 2.5) < 3", True),
        ("abs(day.pnl) > $120 and max(params.other, 2.5) == 3", True),
        ("round(day.pnl) == -$120.25 and floor(1.5) == 1 and ceil(day.pnl) > -$121", True),
        ("ticks(day.pnl, position.symbol) == 0", True),
    ],
)
def test_arithmetic_if_else_and_functions(text: str, want: bool) -> None:
    assert agree(text, context()) is want


def test_every_shipped_rule_condition_is_generated_code() -> None:
    paths = [ROOT / "rulesets/topstep.yaml", *sorted((ROOT / "rulesets/base").glob("*.yaml"))]
    paths += sorted((ROOT / "examples").glob("*.yaml"))
    for path in paths:
        for rule in load_ruleset(path).rules:
            code = getattr(rule.when, "__code__", None)
            assert code is not None and code.co_filename.startswith("<rmdsl"), (path, rule.id)


def test_a_param_missing_from_the_context_raises_instead_of_using_the_declared_value() -> None:
    # the engine binds every declared param; a missing one is its bug, reported as the
    # rule's error (the closures used to read the stale declared value instead)
    predicate, _, getter = generated("params.other > 2")
    ctx = context()
    del ctx.params["other"]
    with pytest.raises(KeyError):
        predicate(ctx)
    with pytest.raises(KeyError):
        getter(ctx)  # type: ignore[operator]


@pytest.mark.parametrize("split", [generate._SPLIT, 3])
def test_an_expression_nested_to_the_checkers_limit_is_generated_code(
    split: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # helper functions keep each one's nesting small; a split of 3 makes many of them
    monkeypatch.setattr(generate, "_SPLIT", split)
    text = "not " * 92 + "(contracts(position.symbol) > day.trades - 1 + params.other)"
    ctx = context()
    assert agree(text, ctx) is True  # an even count of `not`: 3 > 0 - 1 + 3
    ctx.day.trades = 9
    assert agree(text, ctx) is False


def test_a_range_with_bounds_read_per_call_is_generated_code() -> None:
    ctx = context()
    ctx.day.trades = 3
    assert agree("day.trades in params.other..(params.other + 2)", ctx) is True
    assert agree("day.trades not in (params.other + 1)..9", ctx) is True
