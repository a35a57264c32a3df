"""A ruleset file -> a compiled Ruleset: the one place the stages are chained.

load (YAML -> nodes, per file of the extends chain) -> document (keys, settings)
-> extends (merge) -> parse/check/compile (expressions, actions) -> lint -> Ruleset.
Every stage reports into one Report so a file's errors are all collected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from rmdsl.errors import CheckError, Diagnostic, LoadError
from rmdsl.lang.schema import Scope
from rmdsl.lang.yaml_loader import NodeBudget, YScalar, load_yaml_bytes, too_large
from rmdsl.rules.calendar_locks import check_calendar_locks
from rmdsl.rules.compile import RuleCompiler
from rmdsl.rules.document import FileDoc, parse_file_doc, within_limits
from rmdsl.rules.extends import Merged, load_chain, merge
from rmdsl.rules.lint import lint_ruleset
from rmdsl.rules.model import Param, Rule, Ruleset, SessionHours, WeekStart
from rmdsl.rules.nslg import build_nslg
from rmdsl.rules.params import ParamTyper
from rmdsl.rules.values import Report
from rmdsl.source import (
    MAX_FILE_BYTES,
    FileTooLargeError,
    SourceFile,
    check_path,
    read_file_bytes,
)

T = TypeVar("T")
DEFAULT_TIMEZONE = "America/Chicago"
DEFAULT_RESET = dt.time(17, 0)
_DEFAULTS: dict[str, object] = {
    "timezone": ZoneInfo(DEFAULT_TIMEZONE),
    "reset": DEFAULT_RESET,
    "session": SessionHours(),
    "holidays": frozenset(),
    "week_start": WeekStart(),
}


@dataclass(frozen=True, slots=True)
class CheckResult:
    ruleset: Ruleset | None  # None when there is any error
    diagnostics: tuple[Diagnostic, ...]  # errors first, then warnings
    files: tuple[str, ...]  # display paths of the files read, root first

    @property
    def ok(self) -> bool:
        return self.ruleset is not None


def load_ruleset(path: str | Path) -> Ruleset:
    """The ruleset, or CheckError with every diagnostic (errors first). OSError if unreadable."""
    result = check_ruleset(path)
    if result.ruleset is None:
        raise CheckError(result.diagnostics)
    return result.ruleset


def check_ruleset(path: str | Path) -> CheckResult:
    check_path(path)  # an OSError (exit 2), not a ValueError from resolve()
    report = Report()
    files = _Files(str(path), report)
    docs = load_chain(Path(path), str(path), files.load, report)
    if not within_limits(docs, report):  # before any expression is parsed: time stays bounded
        return CheckResult(None, _ordered(report.diagnostics, files), tuple(files.sources))
    merged = merge(docs, ParamTyper({k: s.text for k, s in files.sources.items()}, report), report)
    compiler = RuleCompiler(
        files.sources,
        {n: (p.type, p.value) for n, p in merged.params.items()},
        report,
        {n: (p.value.path, p.value.span) for doc in docs for n, p in doc.params.items()},
    )
    rules = [r for r in (compiler.compile(rule) for rule in merged.rules.values()) if r is not None]
    message = merged.nslg.get("message")
    render = None
    if message is not None and isinstance(message.value, YScalar):
        render = compiler.template(message.value, Scope.POSITION)
    nslg = build_nslg(merged.nslg, str(path), render)
    check_calendar_locks(merged, rules, _DEFAULTS, report)
    lint_ruleset(merged, rules, compiler.params_read, report)
    diagnostics = _ordered(report.diagnostics, files)
    if report.has_errors or not docs or docs[-1].path != str(path):
        return CheckResult(None, diagnostics, tuple(files.sources))
    ruleset = _build(
        merged,
        rules=tuple(rules),
        no_stop_loss_grace=nslg,
        path=str(path),
        files=tuple(str(p) for p in files.absolute),
        digest=files.digest(),
    )
    return CheckResult(ruleset, diagnostics, tuple(files.sources))


class _Files:
    """Reads each file of the chain once: its text for carets, its bytes for the digest."""

    def __init__(self, root: str, report: Report) -> None:
        self.root, self.report = root, report
        self.bytes_left, self.nodes = MAX_FILE_BYTES, NodeBudget()  # for the whole chain
        self.sources: dict[str, SourceFile] = {}
        self.absolute: list[Path] = []
        self.raw: list[bytes] = []

    def load(self, absolute: Path, display: str) -> FileDoc | None:
        named = display == self.root and not self.sources
        try:
            # the file the user named: an OSError (missing, a device, a FIFO) -> exit 2
            raw = read_file_bytes(Path(display) if named else absolute, self.bytes_left)
        except FileTooLargeError as exc:
            chain = MAX_FILE_BYTES - self.bytes_left if exc.size <= MAX_FILE_BYTES else 0
            self.report.extend(too_large(display, exc.size, chain).diagnostics)
            return None
        except OSError as exc:
            if named:
                raise
            self.report.error_at(
                "RM407", None, display, f"cannot read `{display}`: {exc.strerror or exc}"
            )
            return None
        self.bytes_left -= len(raw)
        self.absolute.append(absolute)
        self.raw.append(raw)
        try:
            root, source = load_yaml_bytes(raw, display, self.nodes)
        except LoadError as err:
            self.sources[display] = SourceFile(display, raw.decode("utf-8", errors="replace"))
            self.report.extend(err.diagnostics)
            return None
        self.sources[display] = source
        return parse_file_doc(root, display, self.report)

    def digest(self) -> str:
        sha = hashlib.sha256()
        for path, raw in zip(self.absolute, self.raw, strict=True):
            sha.update(str(path).encode() + b"\0" + raw + b"\0")
        return sha.hexdigest()


def _ordered(diags: list[Diagnostic], files: _Files) -> tuple[Diagnostic, ...]:
    order = {path: i for i, path in enumerate(files.sources)}

    def key(d: Diagnostic) -> tuple[int, int, int, int]:
        line, col = (d.span.line, d.span.col) if d.span else (0, 0)
        return (0 if d.is_error else 1, order.get(d.path, len(order)), line, col)

    unique = list(dict.fromkeys(diags))
    out = []
    for d in sorted(unique, key=key):
        source = files.sources.get(d.path)
        out.append(d.with_source(source) if source is not None else d)
    return tuple(out)


def _build(merged: Merged, **rest: Any) -> Ruleset:
    def get(name: str, kind: type[T], default: T) -> T:
        found = merged.settings.get(name)
        return found[0] if found is not None and isinstance(found[0], kind) else default

    return Ruleset(
        name=get("name", str, ""),
        description=get("description", str, ""),
        timezone=get("timezone", ZoneInfo, ZoneInfo(DEFAULT_TIMEZONE)),
        reset=get("reset", dt.time, DEFAULT_RESET),
        session=get("session", SessionHours, SessionHours()),
        holidays=get("holidays", frozenset, frozenset()),
        week_start=get("week_start", WeekStart, WeekStart()),
        params=_params(merged),
        **rest,
    )


def _params(merged: Merged) -> dict[str, Param]:
    from rmdsl.rules.model import Origin

    return {
        name: Param(name, p.value, str(p.type), p.stricter, Origin(p.doc.key.path, p.doc.key.span))
        for name, p in merged.params.items()
    }


__all__ = ["CheckResult", "Rule", "check_ruleset", "load_ruleset"]
