"""YAML scalar nodes -> typed values of ruleset fields (durations, times, dates, booleans).

Each reader returns the value or records a located Diagnostic in a Report and
returns None, so one pass collects every error of a file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from rmdsl.errors import Diagnostic, Severity
from rmdsl.lang.literals import (
    DURATION_HINT,
    WEEKDAYS,
    LiteralError,
    duration_problem,
    parse_date,
)
from rmdsl.lang.literals import did_you_mean as did_you_mean  # the YAML readers' name for it
from rmdsl.lang.literals import read_duration as read_duration_text
from rmdsl.lang.literals import (
    read_time as read_time_text,
)
from rmdsl.lang.yaml_loader import YMap, YNode, YScalar, YSeq, kind_of
from rmdsl.rules.model import MAX_DURATION_MS
from rmdsl.source import Span

MAX_DURATION_TEXT = "366d"  # rmdsl.rules.model.MAX_DURATION_MS
_YAML11_BOOLS = frozenset({"yes", "no", "on", "off", "y", "n"})


@dataclass(frozen=True, slots=True)
class Entry:
    """A `key: value` pair as written, in the file named by key.path."""

    key: YScalar
    value: YNode


@dataclass(slots=True)
class Report:
    """Collects the diagnostics of a check run (all files of an extends chain)."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(
        self,
        code: str,
        node: YNode | None,
        path: str,
        message: str,
        hint: str | None = None,
        notes: tuple[str, ...] = (),
    ) -> None:
        span = node.span if node is not None else None
        self.diagnostics.append(Diagnostic(code, message, path, span, hint=hint, notes=notes))

    def error_at(
        self, code: str, span: Span | None, path: str, message: str, hint: str | None = None
    ) -> None:
        self.diagnostics.append(Diagnostic(code, message, path, span, hint=hint))

    def warning(
        self, code: str, node: YNode | None, path: str, message: str, hint: str | None = None
    ) -> None:
        span = node.span if node is not None else None
        self.diagnostics.append(Diagnostic(code, message, path, span, Severity.WARNING, hint=hint))

    def extend(self, diags: Iterable[Diagnostic]) -> None:
        # a param written wrongly is reported once at the param, not once per rule using it
        seen = {d for d in self.diagnostics if d.span is not None}
        self.diagnostics.extend(d for d in diags if d not in seen)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


def parse_duration_text(text: str) -> int | None:
    """A YAML field's duration (`for: 1m30s`), read by the same rule as in expressions."""
    return read_duration_text(text)


def check_keys(node: YMap, allowed: Iterable[str], where: str, report: Report) -> None:
    """Every key is checked: an unknown one is an error with a suggestion."""
    known = tuple(allowed)
    for key, _ in node.entries:
        if key.text not in known:
            report.error(
                "RM020",
                key,
                key.path,
                f"unknown key `{key.text}` in {where}",
                did_you_mean(key.text, known),
            )


def read_string(node: YNode, what: str, report: Report) -> str | None:
    if isinstance(node, YScalar) and isinstance(node.value, str):
        return node.text
    if isinstance(node, YScalar) and node.value is not None and not isinstance(node.value, bool):
        return node.text  # a number written where text is expected (name: 2026) is still text
    report.error("RM023", node, node.path, f"{what} must be a string, not {kind_of(node)}")
    return None


def read_bool(node: YNode, what: str, report: Report) -> bool | None:
    if isinstance(node, YScalar) and isinstance(node.value, bool):
        return node.value
    hint = "use true or false"
    if isinstance(node, YScalar) and node.text.lower() in _YAML11_BOOLS | {"true", "false"}:
        hint = f"`{node.raw}` is not a boolean here; use true or false (unquoted)"
    report.error(
        "RM029", node, node.path, f"{what} must be true or false, not {kind_of(node)}", hint
    )
    return None


def read_duration(node: YNode, what: str, report: Report) -> int | None:
    text = node.text if isinstance(node, YScalar) and node.value is not None else None
    ms = read_duration_text(text) if text is not None else None
    if ms is None:
        shown = f"`{node.text}`" if isinstance(node, YScalar) else kind_of(node)
        problem = duration_problem(text) if text is not None else None
        message = f"{what}: {problem}" if problem else f"{what} must be a duration, not {shown}"
        report.error("RM035", node, node.path, message, DURATION_HINT)
    return ms


def read_bounded_duration(node: YNode, what: str, report: Report) -> int | None:
    """A duration the engine adds to the clock (`for:`): at most MAX_DURATION_MS (RM047)."""
    ms = read_duration(node, what, report)
    if ms is not None and ms > MAX_DURATION_MS:
        shown = f"`{node.text}`" if isinstance(node, YScalar) else "a duration"
        report.error("RM047", node, node.path, *too_long(what, shown))
        return None
    return ms


def too_long(what: str, shown: str) -> tuple[str, str]:
    """The RM047 message and hint for a duration over MAX_DURATION_MS."""
    return (
        f"{what} is {shown}, longer than the longest duration, {MAX_DURATION_TEXT}",
        f"a lockout, cooldown, pause, block or `for:` lasts at most {MAX_DURATION_TEXT} "
        "(docs/language.md)",
    )


def read_time(node: YNode, what: str, report: Report) -> dt.time | None:
    value = read_time_text(node.text) if isinstance(node, YScalar) else None
    if value is None:
        report.error(
            "RM025",
            node,
            node.path,
            f"{what} must be a time of day",
            'write it as "HH:MM" or "HH:MM:SS" in 24-hour time, e.g. "17:00"',
        )
    return value


def read_date(node: YNode, report: Report) -> dt.date | None:
    try:
        if isinstance(node, YScalar):
            return parse_date(node.text)
    except LiteralError:
        pass
    report.error("RM028", node, node.path, "a holiday must be a date like 2026-12-25")
    return None


def read_weekday(node: YNode, report: Report) -> int | None:
    if isinstance(node, YScalar) and node.text.lower() in WEEKDAYS:
        return WEEKDAYS.index(node.text.lower())
    shown = node.text if isinstance(node, YScalar) else kind_of(node)
    report.error(
        "RM027",
        node,
        node.path,
        f"`{shown}` is not a weekday",
        did_you_mean(shown, WEEKDAYS) if isinstance(node, YScalar) else None,
    )
    return None


def as_list(node: YNode) -> tuple[YNode, ...]:
    """A single value is a one-item list (`do: flatten`, `on: fill`)."""
    return node.items if isinstance(node, YSeq) else (node,)
