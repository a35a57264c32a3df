"""The check pass: Resolved -> Checked, every merged rule's fields read and its expressions,
actions and message checked (no code is generated here: that is the compile pass).

`when` and message holes are parsed and checked by the expression language; scope, for,
on, do, severity and enabled are read here; the calendar settings under locked rules are
checked last (rmdsl.rules.calendar_locks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

from rmdsl.errors import DiagnosticError
from rmdsl.lang import ast
from rmdsl.lang.check import check_expression
from rmdsl.lang.checked import CheckedExpr, CheckedTemplate, CheckEnv, ParamTypes
from rmdsl.lang.literals import did_you_mean
from rmdsl.lang.parser import parse_expression
from rmdsl.lang.schema import ALL_TRIGGERS, Scope, Trigger
from rmdsl.lang.template import check_template
from rmdsl.lang.types import BOOL, Type
from rmdsl.lang.yaml_loader import YScalar, kind_of
from rmdsl.rules.actions import ActionReader, params_of, split_do
from rmdsl.rules.calendar_locks import check_calendar_locks
from rmdsl.rules.extends import MergedRule
from rmdsl.rules.model import CALENDAR_DEFAULTS, Origin, RuleSeverity
from rmdsl.rules.stages import Checked, CheckedAction, CheckedRule, ParamSites, Resolved
from rmdsl.rules.values import Entry, Report, as_list, read_bool, read_bounded_duration
from rmdsl.source import SourceFile


def check_rules(resolved: Resolved) -> Checked:
    """Every rule checked; a rule with an error is left out (its errors are reported)."""
    report = Report()
    merged = resolved.merged
    checker = RuleChecker(resolved.parsed.sources, resolved.params, report, resolved.sites)
    rules = tuple(r for r in map(checker.check, merged.rules.values()) if r is not None)
    grace = merged.nslg.get("message")
    grace_message = None
    if grace is not None and isinstance(grace.value, YScalar):
        grace_message = checker.template(grace.value, Scope.POSITION)
    check_calendar_locks(merged, rules, CALENDAR_DEFAULTS, report)
    return Checked(
        resolved,
        rules,
        grace_message,
        tuple(checker.exprs),
        frozenset(checker.params_read),
        diagnostics=tuple(report.diagnostics),
    )


class RuleChecker:
    """Reads one merged rule at a time into a CheckedRule, reporting into `report`."""

    def __init__(
        self,
        sources: Mapping[str, SourceFile],
        params: ParamTypes,
        report: Report,
        sites: ParamSites | None = None,
    ) -> None:
        # one read-only view shared by every expression's CheckEnv: copying it per
        # expression made checking quadratic in rules x params (docs/performance.md)
        self.sources, self.params, self.report = sources, MappingProxyType(dict(params)), report
        self.params_read: set[str] = set()
        self.exprs: list[CheckedExpr] = []  # every expression that checked, for the lint pass
        self.sites = MappingProxyType(dict(sites or {}))  # param -> (path, span) of its value

    def check(self, rule: MergedRule) -> CheckedRule | None:
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
        if checked is None or message is None or self._error_count() > errors_before:
            return None
        when = f["when"].value
        assert isinstance(when, YScalar)
        written = f.get("message")
        return CheckedRule(
            id=rule.id,
            scope=scope,
            when=checked,
            when_source=when.text.strip(),
            triggers=triggers,
            actions=actions,
            message=message,
            severity=severity,
            enabled=enabled,
            locked=rule.locked_by is not None,
            for_ms=for_ms,
            inputs=self._inputs(checked, scope),
            merged=rule,
            when_at=Origin(when.path, checked.expr.span),
            message_at=Origin(written.value.path, written.value.span) if written else None,
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
        shown = text or kind_of(node)
        hint = did_you_mean(text, options)
        self.report.error(code, node, node.path, f"unknown {what} `{shown}`", hint)
        return None

    def _scope(self, entry: Entry | None) -> Scope:
        return Scope(self._choice(entry, "scope", tuple(Scope), "RM033") or Scope.ACCOUNT)

    def _severity(self, entry: Entry | None) -> RuleSeverity:
        text = self._choice(entry, "severity", tuple(RuleSeverity), "RM034")
        return RuleSeverity(text or RuleSeverity.CRITICAL)

    def _env(self, path: str, scope: Scope, expected: Type | None) -> CheckEnv:
        return CheckEnv(path, scope, self.params, expected, param_sites=self.sites)

    def _when(self, rule: MergedRule, scope: Scope) -> CheckedExpr | None:
        entry = rule.fields.get("when")
        if entry is None:
            hint = "add a condition, e.g. `when: day.realized_pnl <= params.daily_loss`"
            key = rule.key
            self.report.error("RM031", key, key.path, f"rule `{rule.id}` has no `when`", hint)
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

    def check_text(self, node: YScalar, scope: Scope, expected: Type | None) -> CheckedExpr | None:
        source = self.sources[node.path]
        try:
            expr = parse_expression(
                node.expr_text, path=node.path, source=source, offset=node.start
            )
        except DiagnosticError as err:
            self.report.extend(err.diagnostics)
            return None
        return self._checked(check_expression(expr, self._env(node.path, scope, expected)))

    def _checked(self, checked: CheckedExpr) -> CheckedExpr | None:
        """Reports `checked`'s diagnostics; the expression if it has no error."""
        self.report.extend(checked.diagnostics)
        self.params_read.update(params_of(checked))
        if not checked.ok:
            return None
        self.exprs.append(checked)
        return checked

    def _actions(self, rule: MergedRule, scope: Scope) -> tuple[CheckedAction, ...]:
        entry = rule.fields.get("do")
        key = rule.key
        if entry is None:
            hint = "add actions, e.g. `do: [flatten, lockout(until: reset)]`"
            self.report.error("RM032", key, key.path, f"rule `{rule.id}` has no `do`", hint)
            return ()
        node = entry.value
        source = self.sources[node.path]
        items = [(t, o) for t, o in split_do(node, source.text) if t.strip()]
        if not items:
            hint = "give at least one action; `alert` only notifies"
            message = f"rule `{rule.id}` has an empty `do` list"
            self.report.error("RM038", node, node.path, message, hint)
            return ()
        env = self._env(node.path, scope, None)
        reader = ActionReader(source, env, self.report)
        actions = tuple(a for a in (reader.read(t, o) for t, o in items) if a is not None)
        self.params_read.update(reader.params_read)
        self.exprs.extend(reader.checked)
        return actions

    def _triggers(
        self, entry: Entry | None, checked: CheckedExpr | None, for_ms: int | None
    ) -> frozenset[Trigger]:
        inferred = frozenset(checked.triggers) if checked is not None else ALL_TRIGGERS
        if for_ms is not None:
            inferred |= {Trigger.CLOCK}
        if entry is None:
            return inferred
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

    def _message(
        self, rule: MergedRule, entry: Entry | None, scope: Scope
    ) -> CheckedTemplate | None:
        if entry is None:
            when = rule.fields.get("when")
            text = when.value.text.strip() if when and isinstance(when.value, YScalar) else ""
            return CheckedTemplate((f"rule {rule.id} fired: {text}",), rule.key.path)
        node = entry.value
        if not isinstance(node, YScalar) or node.value is None:
            message = f"`message` must be text, not {kind_of(node)}"
            self.report.error("RM039", node, node.path, message)
            return None
        return self.template(node, scope)

    def template(self, node: YScalar, scope: Scope) -> CheckedTemplate:
        env = dataclasses.replace(self._env(node.path, scope, None), source=self.sources[node.path])
        template, diags = check_template(node.text, env, offset=node.start)
        self.report.extend(diags)
        self.exprs.extend(template.holes)  # their params do not count as read (RM852)
        return template

    def _inputs(self, checked: CheckedExpr, scope: Scope) -> tuple[tuple[str, CheckedExpr], ...]:
        inputs = []
        for name in sorted(checked.names_read):
            named = check_expression(ast.Name(name), self._env("<inputs>", scope, None))
            if named.ok:
                inputs.append((name, named))
        return tuple(inputs)
