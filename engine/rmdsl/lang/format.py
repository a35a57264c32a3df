"""Values -> message text (format_value), and `compile_template`: a `message:` checked
(rmdsl.lang.template) and compiled (rmdsl.lang.codegen) in one call, for messages that are
not part of a ruleset file (the default grace message, tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
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
    if typ == BOOL:
        return "true" if value else "false"
    if typ == MONEY and isinstance(value, Decimal) and value.is_nan():
        return "unknown"  # account.net / to_mll before the balance is known (engine.account)
    if typ == MONEY and isinstance(value, Decimal | int):
        return format_money(value)
    if typ == NUMBER and isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if typ == DURATION and isinstance(value, int):
        return format_duration(value)
    if typ == TIME and isinstance(value, dt.time):
        return format_time(value)
    if typ == DATETIME and isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if typ == DATE and isinstance(value, dt.date):
        return value.isoformat()
    if typ == WEEKDAY and isinstance(value, int):
        return format_weekday(value)
    return str(value)


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
