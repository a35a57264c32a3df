"""Values -> message text (format_value), and `message:` templates with `{expression}` holes
-> Renderer (compile_template). Holes are parsed and checked like any expression."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

from rmdsl.errors import Diagnostic, ParseError
from rmdsl.lang.check import CheckedExpr, CheckEnv, check_expression
from rmdsl.lang.codegen import compile_message
from rmdsl.lang.diagnostic_codes import CODES
from rmdsl.lang.literals import format_duration, format_money, format_time, format_weekday
from rmdsl.lang.parser import parse_expression
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
from rmdsl.source import LineIndex, Span
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


Part = str | CheckedExpr  # literal text, or a hole compiled with the message


def compile_template(
    text: str, env: CheckEnv, *, origin: Span | None = None
) -> tuple[Renderer, tuple[Diagnostic, ...]]:
    """A renderer for `text` and the diagnostics of its holes (errors leave the hole verbatim)."""
    hole_env = dataclasses.replace(env, expected=None)
    parts: list[Part] = []
    diags: list[Diagnostic] = []
    for piece, start in _split(text, env.path, origin, diags):
        if start is None:
            parts.append(piece)
            continue
        where = _origin_of(text, start, origin)
        part, hole_diags = _check_hole(piece, hole_env, where)
        parts.append(part)
        diags.extend(hole_diags)
    return compile_message(parts, env.path, format_value), tuple(diags)


def _check_hole(source: str, env: CheckEnv, where: Span) -> tuple[Part, list[Diagnostic]]:
    literal = "{" + source + "}"
    try:
        expr = parse_expression(source, path=env.path, origin=where, source=env.source)
    except ParseError as err:
        return literal, list(err.diagnostics)
    checked = check_expression(expr, env)
    if not checked.ok:
        return literal, list(checked.diagnostics)
    return checked, list(checked.diagnostics)


def _origin_of(text: str, index: int, origin: Span | None) -> Span:
    line, col = LineIndex(text).position(index)
    span = Span.point(line, col)
    return span.shifted(origin.line - 1, origin.col - 1) if origin is not None else span


def _split(
    text: str, path: str, origin: Span | None, diags: list[Diagnostic]
) -> list[tuple[str, int | None]]:
    """Literal pieces (start None) and hole sources (start = index of their first character)."""
    out: list[tuple[str, int | None]] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "{}" and text[i + 1 : i + 2] == ch:
            buf.append(ch)
            i += 2
        elif ch == "}":
            diags.append(
                _diag("RM119", path, _origin_of(text, i, origin), "write `}}` for a brace")
            )
            buf.append(ch)
            i += 1
        elif ch == "{":
            end = _hole_end(text, i + 1)
            if end < 0:
                hint = "close the hole with `}` or write `{{` for a brace"
                diags.append(_diag("RM118", path, _origin_of(text, i, origin), hint))
                buf.append(text[i:])
                break
            out.append(("".join(buf), None))
            buf = []
            out.append((text[i + 1 : end], i + 1))
            i = end + 1
        else:
            buf.append(ch)
            i += 1
    out.append(("".join(buf), None))
    return [p for p in out if p[1] is not None or p[0]]


def _hole_end(text: str, i: int) -> int:
    in_string = False
    while i < len(text):
        ch = text[i]
        if in_string and ch == "\\":
            i += 2
            continue
        if ch == '"':
            in_string = not in_string
        elif ch == "}" and not in_string:
            return i
        i += 1
    return -1


def _diag(code: str, path: str, span: Span, hint: str) -> Diagnostic:
    return Diagnostic(code, CODES[code], path, span, hint=hint)
