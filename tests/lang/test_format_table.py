"""format_value by type (its lookup by type, r14l): each scalar's text, and the fallbacks a
value of another Python type takes (str), as the chain of comparisons wrote them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rmdsl.lang import types as t
from rmdsl.lang.format import format_value

CASES = [
    (True, t.BOOL, "true"),
    (0, t.BOOL, "false"),
    (Decimal("-412.5"), t.MONEY, "-$412.50"),
    (1250, t.MONEY, "$1,250.00"),
    (Decimal("NaN"), t.MONEY, "unknown"),
    ("x", t.MONEY, "x"),
    (Decimal("2.50"), t.NUMBER, "2.5"),
    (Decimal("-0"), t.NUMBER, "0"),
    (Decimal("1E+3"), t.NUMBER, "1000"),
    (3, t.NUMBER, "3"),
    (5_400_000, t.DURATION, "1h30m"),
    (Decimal("5"), t.DURATION, "5"),
    (dt.time(8, 30), t.TIME, "08:30"),
    ("08:30", t.TIME, "08:30"),
    (dt.datetime(2026, 3, 2, 9, 5, 7), t.DATETIME, "2026-03-02 09:05:07"),
    (dt.date(2026, 3, 2), t.DATE, "2026-03-02"),
    (dt.datetime(2026, 3, 2, 9, 5), t.DATE, "2026-03-02T09:05:00"),
    (4, t.INT, "4"),
    ("MNQ", t.STRING, "MNQ"),
    ({"MNQ": 2, "ES": 1}, t.Type("map", t.INT), "{MNQ: 2, ES: 1}"),
    ([Decimal("-1"), 2], t.Type("list", t.MONEY), "[-$1.00, $2.00]"),
    (Decimal("1"), t.Type("bool", t.INT), "1"),  # not BOOL: a type equal to none of the scalars
]


@pytest.mark.parametrize(("value", "typ", "text"), CASES)
def test_format_value_by_type(value: object, typ: t.Type, text: str) -> None:
    assert format_value(value, typ) == text


def test_weekday_is_named() -> None:
    names = {format_value(d, t.WEEKDAY) for d in range(7)}
    assert len(names) == 7 and all(n.isalpha() for n in names)
