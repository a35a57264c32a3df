"""The values the ruleset passes hand each other (rmdsl.pipeline runs the passes in order).

    Source --parse--> Parsed --resolve--> Resolved --check--> Checked --lint--> Linted
           --compile--> Compiled

Every stage is a frozen dataclass carrying the diagnostics of the pass that made it; the
driver collects them into one Report. Only these types, the AST and the schema are shared:
no pass module imports another (tests/rules/test_passes.py walks the imports).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rmdsl.errors import Diagnostic
from rmdsl.lang.checked import CheckedExpr, CheckedTemplate, ParamTypes
from rmdsl.lang.schema import Scope, Trigger
from rmdsl.rules.document import FileDoc
from rmdsl.rules.extends import Merged, MergedRule
from rmdsl.rules.model import ActionBase, Origin, Ruleset, RuleSeverity
from rmdsl.source import SourceFile, Span

ParamSites = Mapping[str, tuple[str, Span | None]]  # param -> (path, span) of its value


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    """A pass's result; `diagnostics` are the ones that pass found (errors and warnings)."""

    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def halted(self) -> bool:
        """True when no later pass can run on this stage (the driver stops)."""
        return False


@dataclass(frozen=True, slots=True)
class Source(Stage):
    """The input: the ruleset file as the user named it."""

    path: str


@dataclass(frozen=True, slots=True)
class Parsed(Stage):
    """Every file of the extends chain read into a FileDoc (bases first)."""

    path: str  # as the user named it
    docs: tuple[FileDoc, ...]
    sources: Mapping[str, SourceFile]  # display path -> text, root first
    files: tuple[str, ...]  # absolute paths of the files read, for hot reload
    digest: str  # sha256 over the files' bytes
    within_limits: bool = True

    @property
    def halted(self) -> bool:
        # over the limits nothing is parsed further (time stays bounded); a root file
        # that did not load leaves nothing to resolve
        return not self.within_limits or not self.docs or self.docs[-1].path != self.path


@dataclass(frozen=True, slots=True)
class Resolved(Stage):
    """The chain merged (extends) and every param typed."""

    parsed: Parsed
    merged: Merged
    params: ParamTypes  # name -> (type, value)
    sites: ParamSites


@dataclass(frozen=True, slots=True)
class CheckedAction(ActionBase):
    """A `do:` item checked against the schema; `exprs` are the arguments that compute."""

    exprs: Mapping[str, CheckedExpr] = field(default_factory=dict)
    path: str = ""  # the file of the `do:` it was written in


@dataclass(frozen=True, slots=True)
class CheckedRule:
    """A rule whose fields all checked: what the compile pass turns into a Rule."""

    id: str
    scope: Scope
    when: CheckedExpr
    when_source: str
    triggers: frozenset[Trigger]
    actions: tuple[CheckedAction, ...]
    message: CheckedTemplate
    severity: RuleSeverity
    enabled: bool
    locked: bool
    for_ms: int | None
    inputs: tuple[tuple[str, CheckedExpr], ...]  # the names the condition reads
    merged: MergedRule
    when_at: Origin
    message_at: Origin | None


@dataclass(frozen=True, slots=True)
class Checked(Stage):
    """Every rule's expressions, actions and message checked (rules with errors left out)."""

    resolved: Resolved
    rules: tuple[CheckedRule, ...]
    grace_message: CheckedTemplate | None  # no_stop_loss_grace's own `message`, if written
    exprs: tuple[CheckedExpr, ...]  # every expression that checked, for the lint pass
    params_read: frozenset[str]


@dataclass(frozen=True, slots=True)
class Linted(Stage):
    """The checked ruleset; its diagnostics are the warnings (RM8xx)."""

    checked: Checked


@dataclass(frozen=True, slots=True)
class Compiled(Stage):
    """The compiled ruleset the engine runs."""

    ruleset: Ruleset
