"""The runtime semantics of the operators and functions, total over the values rules meet.

Division or modulo by zero gives zero of the result type; `%` takes the sign of
the divisor (floor modulo) for every numeric type; durations stay whole
milliseconds (rounded half-even); round() of money is half-even to the cent,
floor()/ceil() of money go to the cent below/above; glob matching is
case-insensitive. What can still raise (out-of-range values) is listed in
docs/engine.md, "When a rule errors"; the engine reports it as an error of the rule.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import re
from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

ZERO = Decimal(0)
CENT = Decimal("0.01")
Num = int | Decimal


def to_ms(value: Num) -> int:
    if isinstance(value, int):
        return value
    return int(value.to_integral_value(ROUND_HALF_EVEN))


def divide(a: Num, b: Num) -> Decimal:
    """number / number, money / number, money / money: exact Decimal, 0 for a zero divisor."""
    if b == 0:
        return ZERO
    return Decimal(a) / Decimal(b)


def divide_ms(a: int, b: Num) -> int:
    """duration / number: whole milliseconds, 0 for a zero divisor."""
    if b == 0:
        return 0
    return to_ms(Decimal(a) / Decimal(b))


def modulo(a: Num, b: Num) -> Num:
    """Floor modulo (sign of the divisor), 0 for a zero divisor."""
    if b == 0:
        return 0 if isinstance(a, int) and isinstance(b, int) else ZERO
    if isinstance(a, int) and isinstance(b, int):
        return a % b
    r = Decimal(a) % Decimal(b)
    if r != 0 and (r < 0) != (b < 0):
        r += Decimal(b)
    return r


def scale_ms(a: int, factor: Num) -> int:
    """duration * number, whole milliseconds."""
    return a * factor if isinstance(factor, int) else to_ms(Decimal(a) * factor)


def round_value(v: Num, money: bool) -> Num:
    if isinstance(v, int):
        return v
    if money:
        return v.quantize(CENT, ROUND_HALF_EVEN)
    return int(v.to_integral_value(ROUND_HALF_EVEN))


def floor_value(v: Num, money: bool) -> Num:
    if isinstance(v, int):
        return v
    return v.quantize(CENT, ROUND_FLOOR) if money else math.floor(v)


def ceil_value(v: Num, money: bool) -> Num:
    if isinstance(v, int):
        return v
    return v.quantize(CENT, ROUND_CEILING) if money else math.ceil(v)


def in_range(x: object, start: object, end: object, cyclic: bool) -> bool:
    """Half-open [start, end); for times and weekdays start > end wraps around."""
    if cyclic and start > end:  # type: ignore[operator]
        return bool(x >= start or x < end)  # type: ignore[operator]
    return bool(start <= x < end)  # type: ignore[operator]


@functools.lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE)


_NEVER = re.compile("(?!)")


@functools.lru_cache(maxsize=256)
def glob_matcher(pattern: str | tuple[str, ...]) -> Callable[[str], re.Match[str] | None]:
    """The `match` of one regex for a glob or for any of a list of globs (an empty list: none)."""
    if isinstance(pattern, str):
        return glob_regex(pattern).match
    if not pattern:
        return _NEVER.match
    # each translated glob is one self-contained group anchored at the end (`\Z`)
    either = "|".join(fnmatch.translate(p) for p in pattern)
    return re.compile(either, re.IGNORECASE).match


def glob_cell(cell: list[object], pattern: str | tuple[str, ...]) -> Callable[[str], object]:
    """Refresh a one-entry cache [pattern, matcher] (held strongly: `is` stays meaningful)."""
    match = glob_matcher(pattern)
    cell[:] = [pattern, match]
    return match


def lookup(table: Mapping[str, object], key: str, default: object) -> object:
    """`lookup(params.per_symbol, symbol, 3)`: the entry for key, else the default."""
    return table.get(key, table.get(key.upper(), default))


def ticks(money: Decimal, tick_value: Decimal) -> Decimal:
    return divide(money, tick_value)
