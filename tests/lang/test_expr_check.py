"""Checker: one test per error code (RM150-RM168) and per warning code (RM800-RM805)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rmdsl.lang.check import CheckedExpr, CheckEnv, check_expression
from rmdsl.lang.diagnostic_codes import CODES
from rmdsl.lang.lint import lint_expression
from rmdsl.lang.parser import parse_expression
from rmdsl.lang.schema import Scope, Trigger
from rmdsl.lang.types import BOOL, DURATION, INT, MONEY, NUMBER, STRING

PARAMS = {
    "daily_loss": (MONEY, Decimal(-1000)),
    "target": (MONEY, Decimal(500)),
    "max_contracts": (INT, 5),
    "zero": (INT, 0),
}


def check(text: str, scope: Scope = Scope.ACCOUNT, expected: object = BOOL) -> CheckedExpr:
    expr = parse_expression(text, path="r.yaml")
    env = CheckEnv("r.yaml", scope, PARAMS, expected if expected is not None else None)  # type: ignore[arg-type]
    return check_expression(expr, env)


def codes(text: str, scope: Scope = Scope.ACCOUNT, expected: object = BOOL) -> list[str]:
    """The codes the check and lint passes give `text` (errors, then warnings)."""
    checked = check(text, scope, expected)
    return [d.code for d in checked.diagnostics + lint_expression(checked)]


ERRORS = [
    ("RM150", "day.realised_pnl < $0"),
    ("RM151", "position.size > 2"),
    ("RM152", "fils(1h) > 2"),
    ("RM153", "fills(1h, 2h) > 2"),
    ("RM154", "fills(3) > 2"),
    ("RM155", '"a" + 1 == 2'),
    ("RM156", "day.pnl + 1h > $0"),
    ("RM157", '"a" == 1'),
    ("RM158", "day.pnl"),
    ("RM159", 'day.trades matches "x"'),
    ("RM160", 'day.trades in ["a"]'),
    ("RM161", 'day.trades in "a".."b"'),
    ("RM162", '(1 if session.open else "x") == 1'),
    ("RM163", "day.trades and session.open"),
    ("RM164", "session.open < true"),
    ("RM165", 'day.trades in [1, "a"]'),
    ("RM166", "params.daily_los < $0"),
    ("RM168", "day.realized_pnl <= -400"),
    ("RM169", "pnl(32d) <= -$1000"),
]


@pytest.mark.parametrize(("code", "text"), ERRORS, ids=[c for c, _ in ERRORS])
def test_error_code(code: str, text: str) -> None:
    checked = check(text)
    assert not checked.ok
    assert [d.code for d in checked.errors] == [code]
    assert checked.errors[0].span is not None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("pnl(31d) <= -$1000", []),  # exactly what is kept
        ("pnl(744h + 1ms) <= -$1000", []),  # computed: judged at run time (a rule error)
        ("fills(31d + 1ms) > 2", []),
        ("losses(745h) > 2", ["RM169"]),  # 31 days and one hour
        ("trades(params.window) > 2", ["RM169"]),  # a param's value is known
        ("days(400).realized_pnl <= -$1000", []),
        ("days(401).pnl <= -$1000", ["RM169"]),
        ("days(0).realized_pnl <= -$1000", ["RM169"]),
        ("days(params.max_contracts).realized_pnl <= -$1000", []),
    ],
)
def test_rm169_window_longer_than_kept(text: str, found: list[str]) -> None:
    expr = parse_expression(text, path="r.yaml")
    params = {**PARAMS, "window": (DURATION, 32 * 86_400_000)}
    checked = check_expression(expr, CheckEnv("r.yaml", Scope.ACCOUNT, params, BOOL))
    assert [d.code for d in checked.diagnostics] == found


def test_rm167_expected_type() -> None:
    assert codes("day.trades", expected=MONEY) == ["RM167"]
    assert codes("day.trades", expected=NUMBER) == []


def test_every_checker_code_is_tested() -> None:
    tested = {c for c, _ in ERRORS} | {"RM167"}
    assert tested == {c for c in CODES if "RM150" <= c <= "RM199"}


def test_did_you_mean_and_scope_hint() -> None:
    (diag,) = check("day.realised_pnl < $0").errors
    assert diag.hint is not None and diag.hint.startswith("did you mean `day.realized_pnl`")
    (diag,) = check("trade.pnl < $0", Scope.POSITION).errors
    assert diag.hint == "`trade.*` needs `scope: trade` on the rule"
    (diag,) = check("day.realized_pnl <= -400").errors
    assert diag.hint is not None and "$" in diag.hint


def test_types_names_and_triggers() -> None:
    checked = check("position.unrealized_pnl <= params.daily_loss", Scope.POSITION)
    assert checked.ok and checked.type == BOOL
    assert checked.names_read == {"position.unrealized_pnl", "params.daily_loss"}
    assert checked.triggers == {Trigger.POSITION, Trigger.QUOTE}
    checked = check("fills(1h) > 10 and now.time in 08:30..15:10")
    assert checked.triggers == {Trigger.FILL, Trigger.TRADE, Trigger.CLOCK}


@pytest.mark.parametrize(
    ("text", "typ"),
    [
        ("day.pnl * 2", MONEY),
        ("day.pnl / 2.5", MONEY),
        ("day.pnl / day.realized_pnl", NUMBER),
        ("day.trades / 2", NUMBER),
        ("day.trades * 2", INT),
        ("day.trades + 1.5", NUMBER),
        ("position.age * 2", "duration"),
        ("round(position.avg_price)", INT),
        ("round(day.pnl)", MONEY),
        ("max(day.trades, 2.5)", NUMBER),
        ("ticks(day.pnl, position.symbol)", NUMBER),
        ("position.symbol", STRING),
    ],
)
def test_result_types(text: str, typ: object) -> None:
    checked = check(text, Scope.POSITION, expected=None)
    assert checked.ok, checked.diagnostics
    assert str(checked.type) == str(typ)


WARNINGS = [
    ("RM800", "day.realized_pnl / day.trades > $5"),
    ("RM800", "day.trades % params.zero > 1"),
    ("RM801", "day.realized_pnl <= $400"),
    ("RM801", "day.gross_pnl <= $400"),
    ("RM801", "params.target >= day.pnl"),
    ("RM802", "1 > 2"),
    ("RM803", "session.open or true"),
    ("RM804", "now.time in 08:30..08:30"),
    ("RM804", "day.trades in 5..3"),
    ("RM805", "day.trades > 5 and day.trades < 3"),
    ("RM806", "day.realized_pnl * 10000000000000000000000000000 % $0.03 > $0"),
    ("RM806", "round(day.pnl / 0.0000000001) > $0"),
    ("RM807", "5m * day.losses"),  # a duration argument (checked with expected duration below)
    ("RM808", "account.to_mll <= $250"),  # no params.mll_distance: the MLL would read $0
]


def test_rm808_not_when_the_param_is_declared() -> None:
    expr = parse_expression("account.to_mll <= $250 and account.start_balance > $0", path="r")
    params = {**PARAMS, "mll_distance": (MONEY, Decimal(2000)), "account_size": (MONEY, 1)}
    checked = check_expression(expr, CheckEnv("r", Scope.ACCOUNT, params, BOOL))
    assert checked.diagnostics == ()
    assert "RM808" in codes("account.start_balance > $0")


@pytest.mark.parametrize(("code", "text"), WARNINGS)
def test_warning_code(code: str, text: str) -> None:
    checked = check(text, expected=DURATION if code == "RM807" else BOOL)
    assert checked.ok
    assert checked.diagnostics == ()  # warnings are the lint pass's, not the checker's
    warnings = lint_expression(checked)
    assert code in [d.code for d in warnings]
    assert all(not d.is_error for d in warnings)


@pytest.mark.parametrize(
    "text",
    [
        "day.realized_pnl <= params.daily_loss",
        "day.realized_pnl <= -$400",
        "day.pnl >= params.target",
        "now.time not in 17:00..08:30",
        "day.trades > 3 and day.trades < 5",
        "day.pnl / 2 < -$5",
    ],
)
def test_no_warning_for_sound_rules(text: str) -> None:
    assert codes(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "min(5m * day.losses, 4h)",
        "30m if day.losses > 2 else min(day.losses * 5m, 1h)",
        "params.max_contracts * 1m",
        "15m",
    ],
)
def test_a_bounded_duration_argument_has_no_rm807(text: str) -> None:
    assert "RM807" not in codes(text, expected=DURATION)


def test_ordinary_decimal_steps_have_no_rm806() -> None:
    assert codes("day.realized_pnl % $100 < $0") == []
    assert codes("round(day.pnl * 1.5) < -$10") == []


def test_every_warning_code_is_tested() -> None:
    assert {c for c, _ in WARNINGS} == {c for c in CODES if c >= "RM800"}


def test_ticks_keeps_its_symbol_argument_a_string() -> None:
    """Regression: ticks(money, symbol) coerced the symbol to a number and always gave 0."""
    from decimal import Decimal

    from rmdsl.lang.check import CheckEnv, check_expression
    from rmdsl.lang.codegen import compile_expression
    from rmdsl.lang.context import EvalContext, NoFunctions
    from rmdsl.lang.parser import parse_expression
    from rmdsl.lang.schema import Scope

    class Funcs(NoFunctions):
        def tick_value(self, symbol: str) -> Decimal:
            return Decimal("0.50") if symbol == "MNQ" else Decimal(0)

    expr = parse_expression('ticks(-$3, "MNQ")', path="t")
    checked = check_expression(expr, CheckEnv(path="t", scope=Scope.ACCOUNT, params={}))
    assert compile_expression(checked)(EvalContext(funcs=Funcs())) == Decimal(-6)
