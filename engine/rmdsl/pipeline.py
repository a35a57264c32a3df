"""A ruleset file -> a compiled Ruleset: the one place the passes are listed and chained.

As sqlglot's optimizer lists its rules, PASSES lists the passes in the order they run:

    parse    (rules.parse)    Source   -> Parsed    the extends chain's files read
    resolve  (rules.resolve)  Parsed   -> Resolved  merged, params typed
    check    (rules.check)    Resolved -> Checked   expressions, actions, messages checked
    lint     (rules.lint)     Checked  -> Linted    warnings
    compile  (rules.compile)  Linted   -> Compiled  generated code, the Ruleset

Each pass is a function from one stage value (rules.stages) to the next; the driver runs
them and collects every pass's diagnostics into one Report, so a file's errors are all
reported together. It stops after a stage that halts (a file over the input limits) and
runs compile only when no pass reported an error (docs/language.md, "How a file becomes
rules").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rmdsl.errors import CheckError, Diagnostic
from rmdsl.rules.check import check_rules
from rmdsl.rules.compile import compile_rules
from rmdsl.rules.lint import lint_rules
from rmdsl.rules.model import Rule, Ruleset
from rmdsl.rules.parse import parse_files
from rmdsl.rules.resolve import resolve_extends
from rmdsl.rules.stages import (
    Checked,
    Compiled,
    Linted,
    Parsed,
    Resolved,
    Source,
    Stage,
)
from rmdsl.rules.values import Report
from rmdsl.source import SourceFile


@dataclass(frozen=True, slots=True)
class Pass[In: Stage, Out: Stage]:
    """One pass: its name, the stage it takes and the function that makes the next stage."""

    name: str
    takes: type[In]
    run: Callable[[In], Out]
    after_errors: bool = True  # False: skipped once an earlier pass reported an error

    def apply(self, stage: Stage) -> Stage:
        if not isinstance(stage, self.takes):
            shown = type(stage).__name__
            raise TypeError(f"pass {self.name} takes {self.takes.__name__}, not {shown}")
        return self.run(stage)


class Step(Protocol):
    """What the driver needs of a pass (a Pass of any stage types)."""

    @property
    def name(self) -> str: ...
    @property
    def after_errors(self) -> bool: ...
    def apply(self, stage: Stage) -> Stage: ...


PASSES: tuple[Step, ...] = (
    Pass("parse", Source, parse_files),
    Pass("resolve", Parsed, resolve_extends),
    Pass("check", Resolved, check_rules),
    Pass("lint", Checked, lint_rules),
    Pass("compile", Linted, compile_rules, after_errors=False),
)


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
    """Every pass run on the file `path` names; the ruleset when no pass found an error."""
    stages, report = run_passes(Source(str(path)))
    parsed = next(s for s in stages if isinstance(s, Parsed))
    compiled = stages[-1] if isinstance(stages[-1], Compiled) else None
    diagnostics = _ordered(report.diagnostics, parsed.sources)
    ruleset = compiled.ruleset if compiled is not None and not report.has_errors else None
    return CheckResult(ruleset, diagnostics, tuple(parsed.sources))


def run_passes(source: Source) -> tuple[tuple[Stage, ...], Report]:
    """The stages each pass made, in order, and all their diagnostics in one Report."""
    report = Report()
    stages: list[Stage] = [source]
    for step in PASSES:
        last = stages[-1]
        if last.halted or (report.has_errors and not step.after_errors):
            break
        stages.append(step.apply(last))
        report.extend(stages[-1].diagnostics)
    return tuple(stages), report


def _ordered(diags: list[Diagnostic], sources: Mapping[str, SourceFile]) -> tuple[Diagnostic, ...]:
    """Errors first, then warnings; each by file (root first) and position; with source lines."""
    order = {path: i for i, path in enumerate(sources)}

    def key(d: Diagnostic) -> tuple[int, int, int, int]:
        line, col = (d.span.line, d.span.col) if d.span else (0, 0)
        return (0 if d.is_error else 1, order.get(d.path, len(order)), line, col)

    out = []
    for d in sorted(dict.fromkeys(diags), key=key):
        source = sources.get(d.path)
        out.append(d.with_source(source) if source is not None else d)
    return tuple(out)


__all__ = ["PASSES", "CheckResult", "Rule", "check_ruleset", "load_ruleset", "run_passes"]
