"""rmdsl.lang.literals: one rule for each literal, the same in YAML fields and expressions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmdsl.errors import ParseError
from rmdsl.lang import ast
from rmdsl.lang.literals import (
    WEEKDAYS,
    LiteralError,
    did_you_mean,
    duration_problem,
    format_duration,
    format_money,
    literal_problem,
    money_literal,
    parse_date,
    parse_duration,
    parse_money,
    parse_time,
    parse_weekday,
    read_duration,
)
from rmdsl.lang.parser import parse_expression
from rmdsl.rules.values import parse_duration_text


@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("30s", 30_000), ("1h30m", 5_400_000), ("2d", 172_800_000), ("1m5ms", 60_005)],
)
def test_durations_largest_unit_first(text: str, ms: int) -> None:
    assert parse_duration(text) == ms
    assert format_duration(ms) == text


@pytest.mark.parametrize("text", ["30s1m", "1m1m", "5ms1s"])
def test_out_of_order_duration_is_refused_in_conditions_and_fields_alike(text: str) -> None:
    """Regression: `30s1m` was accepted in a condition and rejected in `for:`."""
    assert read_duration(text) is None
    assert parse_duration_text(text) is None
    with pytest.raises(ParseError, match="largest first"):
        parse_expression(f"position.age > {text}", path="t.yaml")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("15min", "unknown duration unit 'min': use s, m, h or d (15m)"),
        ("10min", "unknown duration unit 'min': use s, m, h or d (10m)"),
        ("1hr", "unknown duration unit 'hr': use s, m, h or d (1h)"),
        ("3x", "unknown duration unit 'x': use s, m, h or d"),
        ("30s1m", "duration units go largest first, each once: write 1m30s, not 30s1m"),
    ],
)
def test_duration_problem_names_the_fix(text: str, why: str) -> None:
    assert duration_problem(text) == why
    with pytest.raises(LiteralError, match="duration"):
        parse_duration(text)


def test_a_valid_duration_has_no_problem() -> None:
    assert duration_problem("1h30m") is None


def test_zero_duration_is_0s_everywhere() -> None:
    """Regression: one of three duration formatters printed `0h` for zero."""
    from rmdsl.engine.execute import action_label
    from rmdsl.rules.model import Action

    assert format_duration(0) == "0s"
    assert action_label(Action("lockout", {"until": 0})) == "lockout(until=0s)"
    assert action_label(Action("cooldown", {"for": 5_400_000})) == "cooldown(for=1h30m)"


def test_money() -> None:
    assert parse_money("-$1500.50") == Decimal("-1500.50")
    assert money_literal(Decimal("-600")) == "-$600"
    assert format_money(Decimal("-1250.5")) == "-$1,250.50"
    with pytest.raises(LiteralError, match=r"without thousands separators: \$1500, not \$1,500"):
        parse_money("$1,500")


def test_times_dates_weekdays() -> None:
    assert parse_time("08:30") == dt.time(8, 30)
    assert parse_date("2026-12-25") == dt.date(2026, 12, 25)
    assert parse_weekday("Fri") == 4 and WEEKDAYS[4] == "fri"
    for bad, parse in (("25:00", parse_time), ("2026-02-30", parse_date), ("fry", parse_weekday)):
        with pytest.raises(LiteralError):
            parse(bad)  # type: ignore[operator]


def test_literal_problem_skips_strings() -> None:
    assert literal_problem('"15min" == x') is None
    assert literal_problem('"a" == 15min') == (7, 12, duration_problem("15min"))


def test_did_you_mean() -> None:
    assert did_you_mean("fry", WEEKDAYS) == "did you mean `fri`?"


@given(
    st.lists(
        st.tuples(st.integers(0, 999), st.sampled_from(["d", "h", "m", "s", "ms"])),
        min_size=1,
        max_size=4,
    )
)
def test_a_duration_means_the_same_in_a_condition_and_in_a_field(
    parts: list[tuple[int, str]],
) -> None:
    text = "".join(f"{n}{unit}" for n, unit in parts)
    field = parse_duration_text(text)
    try:
        expr = parse_expression(text, path="t.yaml")
    except ParseError:
        assert field is None, text
        return
    assert isinstance(expr, ast.Literal) and expr.value == field, text
    assert field is not None and parse_duration(format_duration(field)) == field
