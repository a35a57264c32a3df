"""The words of an alert and of its log line: the rule's message, the values that fired it, and
the time on the ruleset's clock with the zone named ("14:02:11 CST").

A trader reads these on a phone, away from the logs: each one must say which rule
did what to what, why in the rule's own words, and when in the time zone the
ruleset's limits are written in (docs/operations.md, "Alerts").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from rmdsl.engine.persistence import EnforcementRecord
from rmdsl.notify import Notifier

Alert = tuple[str, str, str, dict[str, Any]]  # severity, title, body, fields

# action labels that set a lockout (rmdsl.engine.execute): their alert says so
_LOCKING = ("lockout", "cooldown", "block_symbol", "pause", "reduce_only")


def local_time(ts: dt.datetime, zone: dt.tzinfo, date: bool = False) -> str:
    """`14:02:11 CST` (or `2026-11-30 14:02:11 CST`): `ts` on the clock of `zone`."""
    local = ts.astimezone(zone)
    return local.strftime(f"{'%Y-%m-%d ' if date else ''}%H:%M:%S %Z")


def values_text(values: Mapping[str, str]) -> str:
    """`day.realized_pnl = -$1,050.00, params.daily_loss = -$1,000.00`."""
    return ", ".join(f"{k} = {v}" for k, v in values.items())


def _shown(record: EnforcementRecord) -> dict[str, str]:
    return {k: str(v) for k, v in (record.shown or record.values).items()}


def _title(record: EnforcementRecord) -> str:
    """A lockout's own record sends nothing (its flatten's closes, labelled alike, do)."""
    if record.action_sent_ts is not None or not record.action.startswith(_LOCKING):
        return "enforced"
    if record.action.startswith("reduce_only"):
        return "reduce-only"
    return "paused" if record.action.startswith("pause") else "lockout set"


def describe(record: EnforcementRecord, zone: dt.tzinfo) -> str:
    """`rule daily_loss: flatten CON.F.US.MNQ.Z25 at 14:02:11 CST: <message> (values)`."""
    at = local_time(record.timestamp, zone)
    target = f" {record.target}" if record.target else ""
    values = values_text(_shown(record))
    why = f"{record.reason} ({values})" if values else record.reason
    return f"rule {record.rule_name}: {record.action}{target} at {at}: {why}"


def fields_of(record: EnforcementRecord, zone: dt.tzinfo) -> dict[str, Any]:
    """rule/action/target (the rate limiter's kind), the local time, and the values."""
    return {
        "rule": record.rule_name,
        "action": record.action,
        "target": record.target,
        "at": local_time(record.timestamp, zone),
        **_shown(record),
    }


def enforced(record: EnforcementRecord, zone: dt.tzinfo, until: dt.datetime | None = None) -> Alert:
    """An enforcement (or a lockout, with when it lifts) that went through."""
    severity = record.severity if record.severity in ("info", "warning") else "critical"
    body = describe(record, zone)
    if until is not None:
        body = f"{body}\nuntil {local_time(until, zone, date=True)}"
    return severity, _title(record), body, fields_of(record, zone)


def is_lockout(record: EnforcementRecord) -> bool:
    """The record of a lockout (or pause, or symbol block) being set: no broker call."""
    return _title(record) != "enforced"


def failed(record: EnforcementRecord, zone: dt.tzinfo) -> Alert:
    """A broker call that failed: what, why it was sent, the error, and that it is retried."""
    body = f"{describe(record, zone)}\nfailed: {record.error}; retrying until the broker confirms"
    return "critical", "enforcement failed", body, fields_of(record, zone)


class AccountNotifier:
    """One account's alerts in a daemon that supervises several: each title starts with the
    account's name (`[TOPX-7] enforced`) and its fields carry `account`, so a phone shows
    whose account was closed, and the rate limiter keeps two accounts' alerts apart."""

    def __init__(self, inner: Notifier, account: str) -> None:
        self.inner, self.account = inner, account

    def alert(
        self, severity: str, title: str, body: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        named = {"account": self.account, **(fields or {})}
        self.inner.alert(severity, f"[{self.account}] {title}", body, named)


def for_account(notifier: Notifier, account: str) -> Notifier:
    """The notifier an account's engine, reconciler and watcher alert through."""
    return AccountNotifier(notifier, account)
