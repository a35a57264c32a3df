"""YAML scalar nodes -> typed values of ruleset fields (durations, times, dates, booleans).

Each reader returns the value or records a located Diagnostic in a Report and
returns None, so one pass collects every error of a file.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from rmdsl.errors import Diagnostic, Severity
from rmdsl.lang.yaml_loader import YMap, YNode, YScalar, YSeq, kind_of
from rmdsl.rules.model import MAX_DURATION_MS
from rmdsl.source import Span

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DURATION_TEXT = "366d"  # rmdsl.rules.model.MAX_DURATION_MS
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNIT_MS = (86_400_000, 3_600_000, 60_000, 1000, 1)
_TIME = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2}))?$")
_YAML11_BOOLS = frozenset({"yes", "no", "on", "off", "y", "n"})


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
        self.diagnostics.extend(diags)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    options = sorted(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    return "expected one of: " + ", ".join(f"`{o}`" for o in options)


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


def parse_duration_text(text: str) -> int | None:
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        return None
    return sum(int(g) * unit for g, unit in zip(match.groups(), _UNIT_MS, strict=True) if g)


def format_duration(ms: int) -> str:
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0 and ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def parse_time_text(text: str) -> dt.time | None:
    match = _TIME.match(text.strip())
    if not match:
        return None
    hour, minute, second = (int(g) if g else 0 for g in match.groups())
    if hour > 23 or minute > 59 or second > 59:
        return None
    return dt.time(hour, minute, second)


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
    ms = parse_duration_text(text) if text is not None else None
    if ms is None:
        shown = f"`{node.text}`" if isinstance(node, YScalar) else kind_of(node)
        report.error(
            "RM035",
            node,
            node.path,
            f"{what} must be a duration, not {shown}",
            "write a duration like 500ms, 30s, 2m, 1h or 1h30m",
        )
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
    value = parse_time_text(node.text) if isinstance(node, YScalar) else None
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
        if isinstance(node, YScalar) and re.match(r"^\d{4}-\d{2}-\d{2}$", node.text):
            return dt.date.fromisoformat(node.text)
    except ValueError:
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
