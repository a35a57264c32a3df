"""The mandatory NoStopLossGrace built-in: per-file policy checks and the merged settings.

Every file of an extends chain is checked on its own, so an error points at the
line in the file that has it; only grace, action, message and severity may be set.
"""

from __future__ import annotations

from rmdsl.lang.literals import did_you_mean, format_duration
from rmdsl.lang.yaml_loader import YMap, YNode, YScalar, kind_of
from rmdsl.rules.model import NoStopLossGrace, Origin, RuleSeverity
from rmdsl.rules.values import Entry, Report, read_duration
from rmdsl.types import Renderer

ID = NoStopLossGrace.ID
SETTABLE = ("grace", "action", "message", "severity")
FIXED = ("when", "do", "for", "scope", "on", "locked")
GRACE_MIN_MS = 1_000
GRACE_MAX_MS = 600_000
ACTIONS = ("close_position", "flatten")


def check_nslg_entry(key: YScalar, value: YNode, report: Report) -> dict[str, Entry]:
    """Reject every way of switching the built-in off or changing its logic."""
    if not isinstance(value, YMap):
        shown = value.raw if isinstance(value, YScalar) else kind_of(value)
        report.error(
            "RM304",
            value,
            value.path,
            f"`{ID}` must be a mapping of its settings, not `{shown}`",
            "it is mandatory and cannot be switched off; you may set grace, action, "
            "message and severity, e.g. `no_stop_loss_grace: {grace: 2m}`",
        )
        return {}
    fields: dict[str, Entry] = {}
    for k, v in value.entries:
        if k.text == "enabled":
            _check_enabled(k, v, report)
        elif k.text in FIXED:
            report.error(
                "RM301",
                k,
                k.path,
                f"`{ID}` does not take `{k.text}`: its logic is fixed",
                "only grace, action, message and severity can be set",
            )
        elif k.text not in SETTABLE:
            report.error(
                "RM020",
                k,
                k.path,
                f"unknown key `{k.text}` in rule `{ID}`",
                did_you_mean(k.text, SETTABLE),
            )
        elif _check_setting(k.text, v, report):
            fields[k.text] = Entry(k, v)
    return fields


def _check_enabled(key: YScalar, value: YNode, report: Report) -> None:
    if isinstance(value, YScalar) and value.value is True:
        return  # `enabled: true` states the obvious; allowed
    shown = value.raw if isinstance(value, YScalar) else kind_of(value)
    report.error(
        "RM300",
        value,
        value.path,
        f"`{ID}` cannot be disabled (`enabled: {shown}`)",
        "NoStopLossGrace is mandatory; remove `enabled` (only grace, action, message "
        "and severity can be set)",
    )


def _check_setting(name: str, value: YNode, report: Report) -> bool:
    if name == "grace":
        ms = read_duration(value, "`grace`", report)
        if ms is None:
            return False
        if not GRACE_MIN_MS <= ms <= GRACE_MAX_MS:
            report.error(
                "RM302",
                value,
                value.path,
                f"`grace` of {format_duration(ms)} is outside 1s..10m",
                "choose a grace between 1s and 10m (default 2m)",
            )
            return False
        return True
    if name == "action":
        text = value.text if isinstance(value, YScalar) else ""
        if text not in ACTIONS:
            report.error(
                "RM303",
                value,
                value.path,
                f"`{ID}` action must be close_position or flatten, not `{text or kind_of(value)}`",
            )
            return False
        return True
    if name == "severity":
        text = value.text if isinstance(value, YScalar) else ""
        if text not in tuple(RuleSeverity):
            report.error(
                "RM034",
                value,
                value.path,
                f"unknown severity `{text}`",
                did_you_mean(text, tuple(RuleSeverity)),
            )
            return False
        return True
    if not (isinstance(value, YScalar) and isinstance(value.value, str)):
        report.error("RM039", value, value.path, f"`message` must be text, not {kind_of(value)}")
        return False
    return True


def build_nslg(
    fields: dict[str, Entry], root_path: str, render: Renderer | None
) -> NoStopLossGrace:
    """The merged settings (already checked) -> the model; defaults fill the rest.

    `render` is the ruleset's own message compiled by the template compiler (None: default).
    """
    default = NoStopLossGrace()
    grace = fields.get("grace")
    action = fields.get("action")
    message = fields.get("message")
    severity = fields.get("severity")
    origin_entry = next(iter(fields.values()), None)
    origin = Origin(origin_entry.key.path, origin_entry.key.span) if origin_entry else None
    grace_ms = default.grace_ms
    if grace is not None and isinstance(grace.value, YScalar):
        from rmdsl.rules.values import parse_duration_text

        grace_ms = parse_duration_text(grace.value.text) or default.grace_ms
    return NoStopLossGrace(
        grace_ms=grace_ms,
        action=_text(action, default.action),
        message=_text(message, default.message),
        severity=RuleSeverity(_text(severity, default.severity)),
        origin=origin or Origin(root_path, None),
        **({"render": render} if render is not None else {}),
    )


def _text(entry: Entry | None, default: str) -> str:
    return entry.value.text if entry is not None and isinstance(entry.value, YScalar) else default
