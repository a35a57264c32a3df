"""`message:` templates: text with `{expression}` holes -> CheckedTemplate.

Holes are parsed and checked like any expression (`{{` and `}}` are braces); the compile
pass turns the result into one generated function (rmdsl.lang.codegen.compile_message).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rmdsl.errors import Diagnostic, ParseError
from rmdsl.lang.check import check_expression
from rmdsl.lang.checked import CheckedExpr, CheckedTemplate, CheckEnv
from rmdsl.lang.diagnostic_codes import CODES
from rmdsl.lang.parser import parse_expression
from rmdsl.source import SourceFile, Span

Part = str | CheckedExpr  # literal text, or a hole compiled with the message


def check_template(
    text: str, env: CheckEnv, *, offset: int = 0
) -> tuple[CheckedTemplate, tuple[Diagnostic, ...]]:
    """The checked parts of `text` and the diagnostics of its holes (a bad hole stays text).

    `text` starts at `offset` in env.source; without a source it is its own.
    """
    source = env.source if env.source is not None else SourceFile(env.path, text)
    at = _At(source, offset if env.source is not None else 0)
    hole_env = dataclasses.replace(env, expected=None, source=source)
    parts: list[Part] = []
    diags: list[Diagnostic] = []
    for piece, start in _split(text, env.path, at, diags):
        if start is None:
            parts.append(piece)
            continue
        part, hole_diags = _check_hole(piece, hole_env, at.base + start)
        parts.append(part)
        diags.extend(hole_diags)
    return CheckedTemplate(tuple(parts), env.path), tuple(diags)


@dataclass(frozen=True, slots=True)
class _At:
    """The file a template was written in and the offset of its first character there."""

    source: SourceFile
    base: int

    def span(self, index: int) -> Span:
        return self.source.span(self.base + index, self.base + index + 1)


def _check_hole(text: str, env: CheckEnv, offset: int) -> tuple[Part, list[Diagnostic]]:
    literal = "{" + text + "}"
    try:
        expr = parse_expression(text, path=env.path, source=env.source, offset=offset)
    except ParseError as err:
        return literal, list(err.diagnostics)
    checked = check_expression(expr, env)
    if not checked.ok:
        return literal, list(checked.diagnostics)
    return checked, list(checked.diagnostics)


def _split(text: str, path: str, at: _At, diags: list[Diagnostic]) -> list[tuple[str, int | None]]:
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
            diags.append(_diag("RM119", path, at.span(i), "write `}}` for a brace"))
            buf.append(ch)
            i += 1
        elif ch == "{":
            end = _hole_end(text, i + 1)
            if end < 0:
                hint = "close the hole with `}` or write `{{` for a brace"
                diags.append(_diag("RM118", path, at.span(i), hint))
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
