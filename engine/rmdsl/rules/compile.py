"""The compile pass: Linted -> Compiled, every checked rule turned into generated code.

Conditions, action arguments that compute, messages and the names a rule reads all go
through rmdsl.lang.codegen (the one back end); the settings and params become the
Ruleset the engine runs. The driver runs this pass only when no pass reported an error.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar
from zoneinfo import ZoneInfo

from rmdsl.lang.codegen import compile_expression, compile_message, compile_predicate
from rmdsl.lang.format import format_value
from rmdsl.rules.extends import Merged
from rmdsl.rules.model import (
    DEFAULT_RESET,
    DEFAULT_TIMEZONE,
    Action,
    Origin,
    Param,
    Rule,
    Ruleset,
    SessionHours,
    WeekStart,
)
from rmdsl.rules.nslg import build_nslg
from rmdsl.rules.stages import CheckedAction, CheckedRule, Compiled, Linted

T = TypeVar("T")


def compile_rules(linted: Linted) -> Compiled:
    """The Ruleset: its rules compiled, its settings and params typed, the grace built-in."""
    checked = linted.checked
    parsed, merged = checked.resolved.parsed, checked.resolved.merged
    grace = checked.grace_message
    render = compile_message(grace, format_value) if grace is not None else None

    def setting(name: str, kind: type[T], default: T) -> T:
        found = merged.settings.get(name)
        return found[0] if found is not None and isinstance(found[0], kind) else default

    ruleset = Ruleset(
        name=setting("name", str, ""),
        path=parsed.path,
        description=setting("description", str, ""),
        timezone=setting("timezone", ZoneInfo, ZoneInfo(DEFAULT_TIMEZONE)),
        reset=setting("reset", dt.time, DEFAULT_RESET),
        session=setting("session", SessionHours, SessionHours()),
        holidays=setting("holidays", frozenset, frozenset()),
        week_start=setting("week_start", WeekStart, WeekStart()),
        params=_params(merged),
        rules=tuple(compile_rule(rule) for rule in checked.rules),
        no_stop_loss_grace=build_nslg(merged.nslg, parsed.path, render),
        files=parsed.files,
        digest=parsed.digest,
    )
    return Compiled(ruleset)


def compile_rule(rule: CheckedRule) -> Rule:
    """One checked rule as the engine runs it: every expression is generated code."""
    return Rule(
        id=rule.id,
        scope=rule.scope,
        when=compile_predicate(rule.when),
        when_source=rule.when_source,
        triggers=rule.triggers,
        actions=tuple(compile_action(a) for a in rule.actions),
        message=compile_message(rule.message, format_value),
        severity=rule.severity,
        enabled=rule.enabled,
        locked=rule.locked,
        for_ms=rule.for_ms,
        inputs=tuple((name, compile_expression(expr)) for name, expr in rule.inputs),
        origin=Origin(rule.merged.key.path, rule.merged.key.span),
        when_at=rule.when_at,
        message_at=rule.message_at,
    )


def compile_action(action: CheckedAction) -> Action:
    """The action; an argument that computes becomes a getter bound when the rule fires."""
    exprs = {name: compile_expression(expr) for name, expr in action.exprs.items()}
    return Action(action.name, action.args, action.span, exprs, action.path)


def _params(merged: Merged) -> dict[str, Param]:
    return {
        name: Param(name, p.value, str(p.type), p.stricter, Origin(p.doc.key.path, p.doc.key.span))
        for name, p in merged.params.items()
    }
