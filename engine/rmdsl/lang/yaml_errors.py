"""A YAML parser exception -> (span, message, hint) for RM012: the raw message when it is
clear, else a plain sentence about the likely cause (indentation, an unquoted `:` or `{`)."""

from __future__ import annotations

from rmdsl.source import Span, line_index


def describe_yaml_error(exc: Exception, text: str) -> tuple[Span | None, str, str | None]:
    """Reads the marks and messages ruamel's exceptions carry, without importing ruamel."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    span: Span | None = None
    position = getattr(mark, "index", None) if mark is not None else None
    if position is None:
        position = getattr(exc, "position", None)
    if isinstance(position, int):
        span = line_index(text).span(position, position + 1)
    message = f"invalid YAML: {problem}" if problem else f"invalid YAML: {exc}"
    context = getattr(exc, "context", None)
    hint = f"{context}" if context and context != problem else None
    if "\t" in message or "'\\t'" in message:
        hint = "YAML indentation must use spaces, not tabs"
    if mark is not None and problem and span is not None:
        lines = text.split("\n")
        plain = _plain_cause(str(problem), lines, span.line - 1, span.col - 1)
        message, hint = plain or (message, hint)
    return span, message.replace("\n", " "), hint


def _plain_cause(problem: str, lines: list[str], index: int, col: int) -> tuple[str, str] | None:
    """The likely cause of a raw YAML parser message, said plainly (message, hint)."""
    where = f"line {index + 1}"
    text = lines[index] if 0 <= index < len(lines) else ""
    if "mapping values are not allowed" in problem:
        return (
            f"invalid YAML on {where}: a value contains `: `, which YAML reads as a new key",
            'put the value in double quotes, e.g. message: "Loss: {day.realized_pnl}"',
        )
    if "expected <block end>" in problem or "expected <block mapping start>" in problem:
        head, colon, value = text.partition(": ")
        opens = len(head) + 2 + len(value) - len(value.lstrip())
        if colon and value.lstrip().startswith(("{", "[")) and col > opens:
            return (
                f"invalid YAML on {where}: a value starting with `{value.lstrip()[0]}` "
                "is read as a YAML map or list",
                'put the value in double quotes, e.g. message: "{day.trades} trades"',
            )
        return (
            f"invalid YAML on {where}: this line is indented differently from the lines above",
            "indent every key of one map by the same number of spaces",
        )
    return None
