"""Literal text <-> values: money, durations, times, dates, weekdays, and "did you mean".

The one definition of how a literal is written, shared by YAML fields, expressions,
messages, `rmdsl test` files and operator output (docs/language.md, "Literals").
A duration lists its units largest first, each at most once (`1h30m`, not `30m1h`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DURATION_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))
UNIT_MS = dict(DURATION_UNITS)
DURATION_HINT = "write a duration like 500ms, 30s, 2m, 1h or 1h30m"

# a duration as `rmdsl schema --json-schema` describes it; `_CANONICAL` is the same shape
DURATION_PATTERN = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"
_CANONICAL = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")
_PART = re.compile(r"(\d+)([A-Za-z]+)")
_TIME = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2}))?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_THOUSANDS = re.compile(r"^(-?)\$(\d{1,3}(?:,\d{3})+)(\.\d+)?$")
_CENT = Decimal("0.01")
# Units people write out of habit -> the unit the language spells that way.
_UNIT_ALIASES = {
    **dict.fromkeys(("min", "mins", "minute", "minutes", "mn"), "m"),
    **dict.fromkeys(("hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("day", "days"), "d"),
    **dict.fromkeys(("msec", "msecs", "millis"), "ms"),
}


class LiteralError(ValueError):
    """Text that looks like a literal but does not denote a value; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# durations ------------------------------------------------------------------
def parse_duration(text: str) -> int:
    """`1h30m` -> 5_400_000 ms; raises LiteralError naming the problem (unit, order)."""
    stripped = text.strip()
    match = _CANONICAL.match(stripped)
    if match and any(match.groups()):
        return sum(
            int(g) * UNIT_MS[u]
            for g, (u, _) in zip(match.groups(), DURATION_UNITS, strict=True)
            if g
        )
    raise LiteralError(duration_problem(stripped) or f"`{stripped}` is not a duration")


def read_duration(text: str) -> int | None:
    """The duration `text` denotes, or None."""
    try:
        return parse_duration(text)
    except LiteralError:
        return None


def duration_problem(text: str) -> str | None:
    """Why `text`, written like a duration, is not one (an unknown unit, units out of order)."""
    match = _CANONICAL.match(text)
    if match and any(match.groups()):
        return None
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    for number, unit in parts:
        if unit not in UNIT_MS:
            known = _UNIT_ALIASES.get(unit.lower())
            example = f" ({number}{known})" if known else ""
            return f"unknown duration unit '{unit}': use s, m, h or d{example}"
    total = sum(int(n) * UNIT_MS[u] for n, u in parts)
    return f"duration units go largest first, each once: write {format_duration(total)}, not {text}"


def format_duration(ms: int) -> str:
    """`1h30m`, `500ms`, `0s`, `2d`; negative durations get a leading `-`."""
    if ms == 0:
        return "0s"
    sign, rest, parts = ("-" if ms < 0 else ""), abs(ms), []
    for unit, size in DURATION_UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


# money ----------------------------------------------------------------------
def parse_money(text: str) -> Decimal:
    """`$400`, `-$1500.50` -> Decimal; `$1,500` is refused with how to write it."""
    stripped = text.strip()
    sep = _THOUSANDS.match(stripped)
    if sep:
        plain = f"{sep.group(1)}${sep.group(2).replace(',', '')}{sep.group(3) or ''}"
        raise LiteralError(f"write money without thousands separators: {plain}, not {stripped}")
    negative = stripped.startswith("-")
    body = stripped.lstrip("-")
    if not body.startswith("$"):
        raise LiteralError(f"money is written with a `$`: ${body}")
    try:
        value = Decimal(body[1:])
    except InvalidOperation:
        raise LiteralError(f"`{stripped}` is not an amount of money") from None
    return -value if negative else value


def parse_amount(value: object) -> Decimal:
    """An amount in recorded data and `rmdsl test` files: `-520`, `"-$520"`, `"$1,250.50"`.

    Looser than a money literal on purpose: figures are pasted from statements there,
    while a rule's literal has one spelling (`-$1500`) so `rmdsl check` can point at typos.
    """
    text = str(value).replace("$", "").replace(",", "").strip()
    if isinstance(value, bool) or not text:
        raise ValueError(f"not an amount: {value!r}")
    return Decimal(text)


def money_literal(value: Decimal) -> str:
    """The literal that denotes `value` in source: `-$400`, `$1250.5`."""
    text = format(abs(value), "f")
    return f"-${text}" if value < 0 else f"${text}"


def format_money(value: Decimal | int) -> str:
    """Money for people: cents and thousands separators (`-$1,250.50`)."""
    cents = Decimal(value).quantize(_CENT, ROUND_HALF_EVEN)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


# times, dates, weekdays -----------------------------------------------------
def parse_time(text: str) -> dt.time:
    """`08:30` or `16:59:30` in 24-hour time."""
    match = _TIME.match(text.strip())
    if not match:
        raise LiteralError(f"`{text.strip()}` is not a time: write HH:MM or HH:MM:SS")
    hour, minute, second = (int(g) if g else 0 for g in match.groups())
    if hour > 23 or minute > 59 or second > 59:
        raise LiteralError(f"{text.strip()} is not a time of day (00:00..23:59:59)")
    return dt.time(hour, minute, second)


def read_time(text: str) -> dt.time | None:
    try:
        return parse_time(text)
    except LiteralError:
        return None


def format_time(value: dt.time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def parse_date(text: str) -> dt.date:
    """`2026-12-25`; a date that is not in the calendar is refused."""
    stripped = text.strip()
    try:
        if _DATE.match(stripped):
            return dt.date.fromisoformat(stripped)
    except ValueError:
        raise LiteralError(f"{stripped} is not a calendar date") from None
    raise LiteralError(f"`{stripped}` is not a date: write YYYY-MM-DD")


def parse_weekday(text: str) -> int:
    """`mon` -> 0 .. `sun` -> 6 (any case)."""
    word = text.strip().lower()
    if word in WEEKDAYS:
        return WEEKDAYS.index(word)
    raise LiteralError(f"`{text.strip()}` is not a weekday")


def format_weekday(day: int) -> str:
    return WEEKDAYS[day % 7]


# suggestions ----------------------------------------------------------------
def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """ "did you mean `x`?" for a close name, else the list of names to choose from."""
    options = sorted(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    return "expected one of: " + ", ".join(f"`{o}`" for o in options)


def close_names(word: str, candidates: Iterable[str]) -> str | None:
    """ "did you mean `a` or `b`?" for up to three close names, else None (the checker's hint)."""
    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?" if close else None


def literal_problem(text: str) -> tuple[int, int, str] | None:
    """(start, end, why) of the first word that looks like a misspelt literal (`15min`)."""
    blanked = re.sub(r'"(?:\\.|[^"\\])*"', lambda m: " " * len(m.group()), text)
    for match in re.finditer(r"-?\$[\d,.]*\d|\b\d+[A-Za-z]+\b", blanked):
        word = match.group()
        problem: str | None = None
        if "$" in word:
            if _THOUSANDS.match(word):
                problem = _money_problem(word)
        else:
            problem = duration_problem(word)
        if problem is not None:
            return match.start(), match.end(), problem
    return None


def _money_problem(word: str) -> str | None:
    try:
        parse_money(word)
    except LiteralError as err:
        return err.message
    return None
