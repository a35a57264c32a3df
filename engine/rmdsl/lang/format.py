"""Values -> message text (format_value), and `compile_template`: a `message:` checked
(rmdsl.lang.template) and compiled (rmdsl.lang.codegen) in one call, for messages that are
not part of a ruleset file (the default grace message, tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal

from rmdsl.errors import Diagnostic
from rmdsl.lang.checked import CheckEnv
from rmdsl.lang.codegen import compile_message
from rmdsl.lang.literals import format_duration, format_money, format_time, format_weekday
from rmdsl.lang.template import check_template
from rmdsl.lang.types import (
    BOOL,
    DATE,
    DATETIME,
    DURATION,
    MONEY,
    NUMBER,
    SCALARS,
    STRING,
    TIME,
    WEEKDAY,
    Type,
)
from rmdsl.types import Renderer


def format_value(value: object, typ: Type) -> str:
    """`-$400.00`, `$1,250.50`, `1h30m`, `08:30`, `true`, `2.5` (never an exponent)."""
    try:
        return _format(value, typ)
    except (ArithmeticError, ValueError, TypeError):
        return str(value)


def _format(value: object, typ: Type) -> str:
    if typ.is_list and isinstance(value, tuple | list):
        elem = typ.elem or typ
        return "[" + ", ".join(format_value(v, elem) for v in value) + "]"
    if typ.is_map and isinstance(value, Mapping):
        elem = typ.elem or typ
        return "{" + ", ".join(f"{k}: {format_value(v, elem)}" for k, v in value.items()) + "}"
    # one lookup by type, not a chain of Type comparisons: a firing formats every value it
    # shows inside the engine's step (docs/performance.md, "Cheaper fills, orders and
    # positions (r14l)")
    scalar = _SCALAR.get(typ)
    text = scalar(value) if scalar is not None else None
    return str(value) if text is None else text


def _bool(value: object) -> str | None:
    return "true" if value else "false"


def _money(value: object) -> str | None:
    if isinstance(value, Decimal) and value.is_nan():
        return "unknown"  # account.net / to_mll before the balance is known (engine.account)
    return format_money(value) if isinstance(value, Decimal | int) else None


def _number(value: object) -> str | None:
    if not isinstance(value, Decimal):
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _duration(value: object) -> str | None:
    return format_duration(value) if isinstance(value, int) else None


def _time(value: object) -> str | None:
    return format_time(value) if isinstance(value, dt.time) else None


def _datetime(value: object) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, dt.datetime) else None


def _date(value: object) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else None


def _weekday(value: object) -> str | None:
    return format_weekday(value) if isinstance(value, int) else None


_SCALAR: dict[Type, Callable[[object], str | None]] = {
    BOOL: _bool,
    MONEY: _money,
    NUMBER: _number,
    DURATION: _duration,
    TIME: _time,
    DATETIME: _datetime,
    DATE: _date,
    WEEKDAY: _weekday,
}


def type_named(name: str) -> Type:
    """The Type `str(Type)` printed (`money`, `map<int>`, `list<string>`); unknown: string."""
    outer, _, inner = name.strip().partition("<")
    if inner.endswith(">") and outer in ("list", "map"):
        return Type(outer, type_named(inner[:-1]))
    return next((t for t in SCALARS if t.name == outer), STRING)


def shown_values(values: Mapping[str, object], shown: Mapping[str, str]) -> dict[str, str]:
    """What made a rule fire, as the language writes it; raw text where no type was known."""
    return {name: shown.get(name, str(value)) for name, value in values.items()}


def compile_template(
    text: str, env: CheckEnv, *, offset: int = 0
) -> tuple[Renderer, tuple[Diagnostic, ...]]:
    """A renderer for `text` and the diagnostics of its holes (errors leave the hole verbatim);
    `text` starts at `offset` in env.source (rmdsl.lang.template.check_template)."""
    template, diags = check_template(text, env, offset=offset)
    return compile_message(template, format_value), diags
