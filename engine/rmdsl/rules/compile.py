"""Merged rule fields -> rmdsl.rules.model.Rule: expressions parsed, checked and compiled.

Calls the expression language's stages (parser, checker, compiler) for `when`
and `message`; reads scope, for, on, do, severity and enabled itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from rmdsl.errors import DiagnosticError
from rmdsl.lang.literals import did_you_mean
from rmdsl.lang.schema import ALL_TRIGGERS, Scope, Trigger
from rmdsl.lang.types import BOOL, Type
from rmdsl.lang.yaml_loader import YScalar, kind_of
from rmdsl.rules.actions import ActionReader, split_do
from rmdsl.rules.extends import MergedRule
from rmdsl.rules.model import Action, Origin, Rule, RuleSeverity
from rmdsl.rules.values import Entry, Report, read_bool, read_bounded_duration
from rmdsl.source import LineIndex, SourceFile, Span
from rmdsl.types import Getter, Renderer

Params = Mapping[str, tuple[Type, object]]


class RuleCompiler:
    def __init__(
        self,
        sources: Mapping[str, SourceFile],
        params: Params,
        report: Report,
        sites: Mapping[str, tuple[str, Span | None]] | None = None,
    ) -> None:
        # one read-only view shared by every expression's CheckEnv: copying it per
        # expression made checking quadratic in rules x params (docs/performance.md)
        self.sources, self.params, self.report = sources, MappingProxyType(dict(params)), report
        self.params_read: set[str] = set()
        self.sites = MappingProxyType(dict(sites or {}))  # param -> (path, span) of its value
        self._lines: dict[str, LineIndex] = {}

    def compile(self, rule: MergedRule) -> Rule | None:
        errors_before = self._error_count()
        f = rule.fields
        scope = self._scope(f.get("scope"))
        severity = self._severity(f.get("severity"))
        enabled = self._bool(f.get("enabled"), "`enabled`", True)
        for_ms = read_bounded_duration(f["for"].value, "`for`", self.report) if "for" in f else None
        checked = self._when(rule, scope)
        actions = self._actions(rule, scope)
        triggers = self._triggers(f.get("on"), checked, for_ms)
        message = self._message(rule, f.get("message"), scope)
        if checked is None or self._error_count() > errors_before:
            return None
        from rmdsl.lang.codegen import compile_predicate

        when = f["when"].value
        assert isinstance(when, YScalar)
        return Rule(
            id=rule.id,
            scope=scope,
            when=compile_predicate(checked),
            when_source=when.text.strip(),
            triggers=triggers,
            actions=actions,
            message=message,
            severity=severity,
            enabled=enabled,
            locked=rule.locked_by is not None,
            for_ms=for_ms,
            inputs=self._inputs(checked, scope),
            origin=Origin(rule.key.path, rule.key.span),
            when_at=Origin(when.path, checked.expr.span),
            message_at=Origin(f["message"].value.path, f["message"].value.span)
            if "message" in f
            else None,
        )

    def _error_count(self) -> int:
        return sum(1 for d in self.report.diagnostics if d.is_error)

    def _bool(self, entry: Entry | None, what: str, default: bool) -> bool:
        if entry is None:
            return default
        value = read_bool(entry.value, what, self.report)
        return default if value is None else value

    def _choice(
        self, entry: Entry | None, what: str, options: tuple[str, ...], code: str
    ) -> str | None:
        if entry is None:
            return None
        node = entry.value
        text = node.text if isinstance(node, YScalar) else ""
        if text in options:
            return text
        self.report.error(
            code,
            node,
            node.path,
            f"unknown {what} `{text or kind_of(node)}`",
            did_you_mean(text, options),
        )
        return None

    def _scope(self, entry: Entry | None) -> Scope:
        return Scope(self._choice(entry, "scope", tuple(Scope), "RM033") or Scope.ACCOUNT)

    def _severity(self, entry: Entry | None) -> RuleSeverity:
        text = self._choice(entry, "severity", tuple(RuleSeverity), "RM034")
        return RuleSeverity(text or RuleSeverity.CRITICAL)

    def _env(self, path: str, scope: Scope, expected: Type | None) -> Any:
        from rmdsl.lang.check import CheckEnv

        return CheckEnv(path, scope, self.params, expected, param_sites=self.sites)

    def _when(self, rule: MergedRule, scope: Scope) -> Any:
        entry = rule.fields.get("when")
        if entry is None:
            self.report.error(
                "RM031",
                rule.key,
                rule.key.path,
                f"rule `{rule.id}` has no `when`",
                "add a condition, e.g. `when: day.realized_pnl <= params.daily_loss`",
            )
            return None
        node = entry.value
        if not isinstance(node, YScalar) or node.value is None:
            self.report.error(
                "RM055",
                node,
                node.path,
                f"`when` must be an expression, not {kind_of(node)}",
                "write the condition as text: `when: day.realized_pnl <= -$1000`",
            )
            return None
        return self.check_text(node, scope, BOOL)

    def check_text(self, node: YScalar, scope: Scope, expected: Type | None) -> Any:
        from rmdsl.lang.check import check_expression
        from rmdsl.lang.parser import parse_expression

        try:
            expr = parse_expression(node.expr_text, path=node.path, origin=node.origin)
        except DiagnosticError as err:
            self.report.extend(err.diagnostics)
            return None
        checked = check_expression(expr, self._env(node.path, scope, expected))
        self.report.extend(checked.diagnostics)
        self.params_read.update(
            n[len("params.") :] for n in checked.names_read if n.startswith("params.")
        )
        return None if any(d.is_error for d in checked.diagnostics) else checked

    def _actions(self, rule: MergedRule, scope: Scope) -> tuple[Action, ...]:
        entry = rule.fields.get("do")
        if entry is None:
            self.report.error(
                "RM032",
                rule.key,
                rule.key.path,
                f"rule `{rule.id}` has no `do`",
                "add actions, e.g. `do: [flatten, lockout(until: reset)]`",
            )
            return ()
        text = self.sources[entry.value.path].text
        items = [(t, o) for t, o in split_do(entry.value, text) if t.strip()]
        if not items:
            self.report.error(
                "RM038",
                entry.value,
                entry.value.path,
                f"rule `{rule.id}` has an empty `do` list",
                "give at least one action; `alert` only notifies",
            )
            return ()
        locate = self._locator(entry.value.path)
        reader = ActionReader(entry.value.path, locate, scope, self.report, self.params)
        actions = tuple(a for a in (reader.read(t, o) for t, o in items) if a is not None)
        self.params_read.update(reader.params_read)
        return actions

    def _locator(self, path: str) -> Callable[[int], tuple[int, int]]:
        """offset -> (line, col) of `path`, by bisection over its line starts (built once):
        counting newlines before each action made a file of n rules O(n^2) to check."""
        lines = self._lines.get(path)
        if lines is None:
            lines = self._lines[path] = LineIndex(self.sources[path].text)
        return lines.position

    def _triggers(
        self, entry: Entry | None, checked: Any, for_ms: int | None
    ) -> frozenset[Trigger]:
        inferred = frozenset(checked.triggers) if checked is not None else ALL_TRIGGERS
        if for_ms is not None:
            inferred |= {Trigger.CLOCK}
        if entry is None:
            return inferred
        from rmdsl.rules.values import as_list

        chosen: set[Trigger] = set()
        for node in as_list(entry.value):
            text = self._choice(Entry(entry.key, node), "trigger", tuple(Trigger), "RM036")
            if text is None:
                continue
            if checked is not None and Trigger(text) not in inferred:
                shown = ", ".join(sorted(inferred)) or "none"
                self.report.error(
                    "RM037",
                    node,
                    node.path,
                    f"`on: {text}` names a trigger the condition does not read",
                    f"`on` may only narrow the inferred triggers ({shown})",
                )
            chosen.add(Trigger(text))
        if for_ms is not None:
            chosen.add(Trigger.CLOCK)
        return frozenset(chosen)

    def _message(self, rule: MergedRule, entry: Entry | None, scope: Scope) -> Renderer:
        if entry is None:
            when = rule.fields.get("when")
            text = when.value.text.strip() if when and isinstance(when.value, YScalar) else ""
            fixed = f"rule {rule.id} fired: {text}"
            return lambda ctx: fixed
        node = entry.value
        if not isinstance(node, YScalar) or node.value is None:
            self.report.error(
                "RM039", node, node.path, f"`message` must be text, not {kind_of(node)}"
            )
            return lambda ctx: rule.id
        return self.template(node, scope)

    def template(self, node: YScalar, scope: Scope) -> Renderer:
        from rmdsl.lang.format import compile_template

        renderer, diags = compile_template(
            node.text, self._env(node.path, scope, None), origin=node.origin
        )
        self.report.extend(diags)
        return renderer

    def _inputs(self, checked: Any, scope: Scope) -> tuple[tuple[str, Getter], ...]:
        from rmdsl.lang import ast
        from rmdsl.lang.check import check_expression
        from rmdsl.lang.codegen import compile_expression

        inputs = []
        for name in sorted(checked.names_read):
            named = check_expression(ast.Name(name), self._env("<inputs>", scope, None))
            if not any(d.is_error for d in named.diagnostics):
                inputs.append((name, compile_expression(named)))
        return tuple(inputs)
