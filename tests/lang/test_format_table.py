"""format_value by type (its lookup by type, r14l): each scalar's text, and the fallbacks a
value of another Python type takes (str), as the chain of comparisons wrote them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rmdsl.lang.format import format_value
from rmdsl.lang.types import (
    BOOL,
    DATE,
    DATETIME,
    DURATION,
    INT,
    MONEY,
    NUMBER,
    STRING,
    TIME,
    WEEKDAY,
    Type,
)

CASES = [
    (True, BOOL, "true"),
    (0, BOOL, "false"),
    (Decimal("-412.5"), MONEY, "-$412.50"),
    (1250, MONEY, "$1,250.00"),
    (Decimal("NaN"), MONEY, "unknown"),
    ("x", MONEY, "x"),
    (Decimal("2.50"), NUMBER, "2.5"),
    (Decimal("-0"), NUMBER, "0"),
    (Decimal("1E+3"), NUMBER, "1000"),
    (3, NUMBER, "3"),
    (5_400_000, DURATION, "1h30m"),
    (Decimal("5"), DURATION, "5"),
    (dt.time(8, 30), TIME, "08:30"),
    ("08:30", TIME, "08:30"),
    (dt.datetime(2026, 3, 2, 9, 5, 7), DATETIME, "2026-03-02 09:05:07"),
    (dt.date(2026, 3, 2), DATE, "2026-03-02"),
    (dt.datetime(2026, 3, 2, 9, 5), DATE, "2026-03-02T09:05:00"),
    (4, INT, "4"),
    ("MNQ", STRING, "MNQ"),
    ({"MNQ": 2, "ES": 1}, Type("map", INT), "{MNQ: 2, ES: 1}"),
    ([Decimal("-1"), 2], Type("list", MONEY), "[-$1.00, $2.00]"),
    (Decimal("1"), Type("bool", INT), "1"),  # not BOOL: a type equal to none of the scalars
]


@pytest.mark.parametrize(("value", "typ", "text"), CASES)
def test_format_value_by_type(value: object, typ: Type, text: str) -> None:
    assert format_value(value, typ) == text


def test_weekday_is_named() -> None:
    names = {format_value(d, WEEKDAY) for d in range(7)}
    assert len(names) == 7 and all(n.isalpha() for n in names)
