"""The lint pass: Checked -> Linted, the warnings of a checked ruleset.

Expression warnings (RM800-RM849, rmdsl.lang.lint) for every expression that checked, and
ruleset warnings (RM850-RM899): likely mistakes that still give a valid ruleset. It runs
after check even when check found errors, so a file's warnings come with its errors.
"""

from __future__ import annotations

from collections.abc import Set

from rmdsl.lang.lint import lint_expression
from rmdsl.lang.schema import ACCOUNT_PARAMS, UntilKind
from rmdsl.rules.extends import Merged
from rmdsl.rules.model import SessionHours
from rmdsl.rules.stages import Checked, CheckedRule, Linted
from rmdsl.rules.values import Report


def lint_rules(checked: Checked) -> Linted:
    """The warnings of every checked expression and of the ruleset as a whole."""
    report = Report()
    for expr in checked.exprs:
        report.extend(lint_expression(expr))
    lint_ruleset(checked.resolved.merged, checked.rules, checked.params_read, report)
    return Linted(checked, diagnostics=tuple(report.diagnostics))


def lint_ruleset(
    merged: Merged, rules: tuple[CheckedRule, ...], params_read: Set[str], report: Report
) -> None:
    """RM850-RM854 for the rules that checked and the params no rule reads."""
    for rule in rules:
        fields = rule.merged.fields
        rule_id = rule.id
        if not rule.enabled and "enabled" in fields:
            node = fields["enabled"].value
            report.warning(
                "RM850",
                node,
                node.path,
                f"rule `{rule_id}` is disabled",
                "it is checked but never evaluated; delete it or set enabled: true",
            )
        if rule.for_ms == 0 and "for" in fields:
            node = fields["for"].value
            report.warning(
                "RM853",
                node,
                node.path,
                "`for: 0` has no effect",
                "remove `for`, or give the time the condition must hold",
            )
        _lockouts(rule, merged, report)
        _locked_params(rule, merged, report)
    for name, param in merged.params.items():
        if name not in params_read and name not in ACCOUNT_PARAMS:  # the engine reads those
            key = param.doc.key
            report.warning(
                "RM852",
                key,
                key.path,
                f"param `{name}` is never used",
                f"no rule reads `params.{name}`",
            )


def _lockouts(rule: CheckedRule, merged: Merged, report: Report) -> None:
    session = merged.settings.get("session")
    days = session[0].days if session and isinstance(session[0], SessionHours) else None
    if days is None or days:
        return
    for action in rule.actions:
        if action.until is UntilKind.SESSION_START:
            entry = merged.rules[rule.id].fields["do"]
            report.warning(
                "RM851",
                entry.value,
                entry.value.path,
                f"rule `{rule.id}` locks out until session_start, but the session "
                "has no days: the lockout never lifts",
                "list the trading days in `session.days`, or lock out until reset",
            )


def _locked_params(rule: CheckedRule, merged: Merged, report: Report) -> None:
    lock = merged.rules[rule.id].locked_by
    if lock is None:
        return
    for name, _ in rule.inputs:
        param = (
            merged.params.get(name.removeprefix("params.")) if name.startswith("params.") else None
        )
        if param is not None and param.stricter is None:
            report.warning(
                "RM854",
                lock.value,
                lock.value.path,
                f"locked rule `{rule.id}` reads `{name}`, which any extending file "
                "can change in either direction",
                "declare it {value: ..., stricter: higher|lower} to protect the limit",
            )
