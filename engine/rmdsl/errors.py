"""Diagnostics and the error tree: stages report located Diagnostics, rendered like a compiler."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rmdsl.source import SourceFile, Span

MAX_RENDERED = 50
WINDOW = 100  # longest source excerpt shown under a diagnostic
CONTEXT = 20  # characters kept before the span when a line is cut
ELLIPSIS = "..."


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One located finding. Fields only; rendering happens in `render`."""

    code: str  # "RM012"
    message: str
    path: str
    span: Span | None
    severity: Severity = Severity.ERROR
    hint: str | None = None
    source_line: str | None = None  # the text of span.line, for carets
    notes: tuple[str, ...] = field(default=())  # e.g. the extends chain

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def with_source(self, source: SourceFile) -> Diagnostic:
        if self.span is None or self.source_line is not None:
            return self
        return _replace(self, source_line=source.line_text(self.span.line))

    def render(self, color: bool = False) -> str:
        return render_diagnostic(self, color)

    def to_json(self) -> dict[str, object]:
        span = self.span
        return {
            "path": self.path,
            "line": span.line if span else None,
            "col": span.col if span else None,
            "end_line": span.end_line if span else None,
            "end_col": span.end_col if span else None,
            "severity": str(self.severity),
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "notes": list(self.notes),
        }


def _replace(d: Diagnostic, **changes: object) -> Diagnostic:
    import dataclasses

    return dataclasses.replace(d, **changes)  # type: ignore[arg-type]


_RED, _YELLOW, _BOLD, _CYAN, _RESET = "\x1b[31m", "\x1b[33m", "\x1b[1m", "\x1b[36m", "\x1b[0m"


def render_diagnostic(d: Diagnostic, color: bool = False) -> str:
    """`path:line:col: error[RM012]: message`, the source line, a caret, `help:`."""

    def paint(text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    where = d.path if d.span is None else f"{d.path}:{d.span.line}:{d.span.col}"
    sev_color = _RED if d.is_error else _YELLOW
    head = f"{where}: {paint(f'{d.severity}[{d.code}]', sev_color)}: {d.message}"
    lines = [paint(head, _BOLD) if color else head]
    if d.span is not None and d.source_line is not None:
        text = d.source_line.expandtabs(1)
        start = max(d.span.col - 1, 0)
        if d.span.end_line == d.span.line:
            width = max(d.span.end_col - d.span.col, 1)
        else:
            width = max(len(text) - start, 1)
        text, start, width = _window(text, start, width)
        width = min(width, max(len(text) - start, 1))
        gutter = f"{d.span.line:>4} | "
        lines.append(f"{gutter}{text}")
        marker = "^" + "~" * (width - 1)
        lines.append(" " * (len(gutter) - 2) + "| " + " " * start + paint(marker, sev_color))
    lines.extend(f"  = note: {n}" for n in d.notes)
    if d.hint:
        lines.append(f"  {paint('help', _CYAN)}: {d.hint}")
    return "\n".join(lines)


def _window(text: str, start: int, width: int) -> tuple[str, int, int]:
    """Cut a long source line to WINDOW characters around the span, marking the cuts with `...`."""
    if len(text) <= WINDOW:
        return text, start, width
    width = min(width, WINDOW - 2 * len(ELLIPSIS) - CONTEXT)
    left = max(0, min(start - CONTEXT, len(text) - WINDOW))
    right = min(len(text), left + WINDOW)
    head = ELLIPSIS if left > 0 else ""
    tail = ELLIPSIS if right < len(text) else ""
    return head + text[left:right] + tail, start - left + len(head), width


def render_all(diags: Sequence[Diagnostic], color: bool = False, limit: int = MAX_RENDERED) -> str:
    parts = [render_diagnostic(d, color) for d in diags[:limit]]
    if len(diags) > limit:
        parts.append(f"... and {len(diags) - limit} more")
    return "\n\n".join(parts)


def diagnostics_json(diags: Iterable[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diags], indent=2)


def stream_is_tty(stream: object = sys.stderr) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def print_diagnostics(diags: Sequence[Diagnostic]) -> None:
    """How a command says why it stops: the diagnostics on stderr, in color on a terminal."""
    print(render_all(diags, stream_is_tty(sys.stderr)), file=sys.stderr)


class RmdslError(Exception):
    """Root of every error rmdsl raises on purpose."""


class DiagnosticError(RmdslError):
    """An error carrying one or more located diagnostics (a stage failed)."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        super().__init__(render_all(self.diagnostics))


class LoadError(DiagnosticError):
    """YAML could not be read into a ruleset document."""


class ParseError(DiagnosticError):
    """An expression does not match the grammar."""


class CheckError(DiagnosticError):
    """A ruleset is ill-typed, ill-formed or breaks a policy (NoStopLossGrace, extends)."""


class EngineError(RmdslError):
    """The runtime hit a state it cannot continue from."""


class BrokerError(RmdslError):
    """A broker call failed (SDK error, rejection, timeout).

    `code` is the gateway's errorCode when it answered `success: false` (None otherwise):
    the enforcer reads e.g. a close's PositionNotFound as "already done", not as a failure.
    """

    def __init__(self, message: str = "", *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class StoreError(RmdslError):
    """The state database could not be read or written.

    `transient`: the failure goes away by itself (another process's lock, a full or
    failing disk), set from the error's result code or errno, never from its text.
    """

    def __init__(self, message: str = "", *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
