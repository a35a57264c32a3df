"""What an enforcement call leaves behind: its EnforcementRecord, its log line and its alert.

Split from rmdsl.enforce.enforcer, which makes the calls: this turns one call's
result into the history row and tells the trader (docs/operations.md, "Alerts").
A retry's failure is recorded but not alerted (the deadline alert covers it).
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from rmdsl import alerttext
from rmdsl.engine.evaluate import Firing
from rmdsl.engine.lockouts import Lockouts
from rmdsl.engine.persistence import EnforcementRecord, Outcome
from rmdsl.metrics import Metrics
from rmdsl.notify import Notifier

log = logging.getLogger("rmdsl.enforce")


def wall_of(mono_ns: int) -> dt.datetime:
    """A monotonic_ns reading as a wall-clock instant (for history)."""
    offset = (time.monotonic_ns() - mono_ns) / 1e9
    return dt.datetime.fromtimestamp(time.time() - offset, dt.UTC)


def record_of(
    firing: Firing,
    action: str,
    target: str,
    result: tuple[Outcome, str | None],
    sent_ns: int | None,
    attempt: int,
    now: dt.datetime,
    account_id: int,
) -> EnforcementRecord:
    """The history row of one call (`sent_ns` None: nothing was sent, a skip or a note);
    a retry is stamped with the engine's time and numbered."""
    outcome, error = result
    done_ns = time.monotonic_ns()
    values, shown = dict(firing.values), dict(firing.shown)
    if attempt > 1:
        values["attempt"] = shown["attempt"] = str(attempt)
    return EnforcementRecord(
        timestamp=firing.ts if attempt == 1 else max(firing.ts, now),
        account_id=account_id,
        rule_name=firing.rule_id,
        action=action,
        reason=firing.message,
        values=values,
        target=target,
        event_received_ts=wall_of(firing.received_ns),
        action_sent_ts=wall_of(sent_ns) if sent_ns is not None else None,
        latency_ms=(done_ns - firing.received_ns) / 1e6 if sent_ns is not None else None,
        outcome=outcome,
        error=error,
        severity=firing.severity,
        shown=shown,
    )


def announce(
    record: EnforcementRecord,
    attempt: int,
    zone: dt.tzinfo,
    notifier: Notifier,
    metrics: Metrics,
    lockouts: Lockouts,
) -> None:
    """Log the call's outcome; alert a first attempt's failure or success, and measure it."""
    if record.outcome is Outcome.FAILED:
        log.critical(
            "enforcement failed (attempt %d): %s: %s",
            attempt,
            alerttext.describe(record, zone),
            record.error,
        )
        if attempt == 1:  # a retry's failure is recorded; the deadline alert covers it
            notifier.alert(*alerttext.failed(record, zone))
    elif record.outcome is Outcome.OK:
        log.warning("enforced: %s", alerttext.describe(record, zone))
        if record.latency_ms is not None and attempt == 1:
            metrics.enforcement(record.latency_ms)
        if attempt == 1 and record.action != "alert":  # an `alert` action sent its own
            notifier.alert(*alerttext.enforced(record, zone, _lifts(record, lockouts)))


def _lifts(record: EnforcementRecord, lockouts: Lockouts) -> dt.datetime | None:
    """When the lockout this record sets lifts (None: not a lockout, or no fixed end)."""
    if not alerttext.is_lockout(record):
        return None
    for lock in lockouts.active.values():
        if lock.rule_id == record.rule_name and (lock.symbol or "account") == record.target:
            return lock.until_ts
    return None
