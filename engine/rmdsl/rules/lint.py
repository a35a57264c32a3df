"""Ruleset-level warnings (RM850-RM899): likely mistakes that still give a valid ruleset."""

from __future__ import annotations

from rmdsl.lang.schema import ACCOUNT_PARAMS, UntilKind
from rmdsl.rules.extends import Merged
from rmdsl.rules.model import Rule, SessionHours
from rmdsl.rules.values import Report


def lint_ruleset(merged: Merged, rules: list[Rule], params_read: set[str], report: Report) -> None:
    by_id = {rule.id: rule for rule in rules}
    for rule_id, merged_rule in merged.rules.items():
        rule = by_id.get(rule_id)
        if rule is None:
            continue
        fields = merged_rule.fields
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


def _lockouts(rule: Rule, merged: Merged, report: Report) -> None:
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


def _locked_params(rule: Rule, merged: Merged, report: Report) -> None:
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
