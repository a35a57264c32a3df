"""The values the expression passes hand each other: CheckEnv in, CheckedExpr and
CheckedTemplate out of the checker, read by the linter and the code generator.

A module of its own so that no pass imports another (docs/language.md, "How a file
becomes rules"): check.py builds these, lint.py and codegen.py only read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rmdsl.errors import Diagnostic
from rmdsl.lang import ast
from rmdsl.lang.schema import Scope, Trigger
from rmdsl.lang.types import Type, Value
from rmdsl.source import SourceFile, Span

# a param's declared type and value, by name (`daily_loss` -> (money, Decimal(-1000)))
ParamTypes = Mapping[str, tuple[Type, Value]]


@dataclass(frozen=True, slots=True)
class CheckEnv:
    """What the checker knows about where an expression is written."""

    path: str
    scope: Scope = Scope.ACCOUNT
    params: ParamTypes = field(default_factory=dict)  # name -> (type, value)
    expected: Type | None = None  # BOOL for `when`
    source: SourceFile | None = None  # to attach source lines to diagnostics
    # name -> (path, span) of each param's value: a param written wrongly is reported there
    param_sites: Mapping[str, tuple[str, Span | None]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckedExpr:
    expr: ast.Expr
    type: Type
    types: Mapping[int, Type]  # id(node) -> type, for every node of `expr`
    names_read: frozenset[str]  # schema paths and "params.x"
    triggers: frozenset[Trigger]
    diagnostics: tuple[Diagnostic, ...]
    env: CheckEnv

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    def type_of(self, node: ast.Expr) -> Type:
        return self.types[id(node)]


@dataclass(frozen=True, slots=True)
class CheckedTemplate:
    """A `message:` after checking: literal text and checked holes, in order. A hole that
    failed to check is kept as its literal text (its error is reported)."""

    parts: tuple[str | CheckedExpr, ...]
    label: str  # the file it was written in: generated code is compiled under its name

    @property
    def holes(self) -> tuple[CheckedExpr, ...]:
        return tuple(p for p in self.parts if not isinstance(p, str))
