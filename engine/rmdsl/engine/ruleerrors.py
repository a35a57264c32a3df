"""Rule evaluation errors: never a silent "not fired" (docs/engine.md, "When a rule errors").

The evaluator stays total: a condition that raises counts as not fired for
the decision. But each error is collected here with the rule id and the
source span of the failing expression, then the engine reports it: counted
in the `rule_errors` metric every time; logged, alerted (critical) and
recorded in enforcement_history with outcome `error` at most once per rule
per REPORT_INTERVAL on the engine clock, with the count of the ones in between,
so a rule failing on every quote cannot flood the log, the admin or the store.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
from dataclasses import dataclass, field

from rmdsl.engine.persistence import EnforcementRecord, Outcome
from rmdsl.metrics import Metrics
from rmdsl.notify import Notifier
from rmdsl.rules.model import Origin

log = logging.getLogger("rmdsl.engine")

REPORT_INTERVAL = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class RuleError:
    """One failed evaluation: which rule, which part of it, where it is written, what failed."""

    rule_id: str
    part: str  # "when", "do: reduce_position(to)", "message"
    where: str  # "rules.yaml:12:11" (file:line:col of the expression), "" when unknown
    error: str  # "ZeroDivisionError: division by zero"
    entity: str  # "account", a contract id, "order:<id>", "trade:<id>"
    ts: dt.datetime

    def describe(self) -> str:
        at = f" at {self.where}" if self.where else ""
        return f"rule {self.rule_id} failed in `{self.part}`{at}: {self.error}"

    @property
    def consequence(self) -> str:
        if self.part == "when":
            return "the rule counts as not fired until it is fixed"
        if self.part == "message":
            return "the rule acted with its id as the message"
        return "the rule acted with the argument's safe fallback"


def where_of(origin: Origin | None) -> str:
    """`file:line:col` of an origin ("" when the compiler recorded none)."""
    if origin is None:
        return ""
    if origin.span is None:
        return origin.path
    return f"{origin.path}:{origin.span.line}:{origin.span.col}"


def error_text(exc: BaseException) -> str:
    """`ZeroDivisionError: division by zero`; a decimal signal by name (`DivisionImpossible`)."""
    args = exc.args[0] if len(exc.args) == 1 else None
    if args == [decimal.InvalidOperation]:  # an ordering comparison with NaN (engine.account)
        text = "a value is unknown (account.net and account.to_mll until the balance is known)"
    elif isinstance(args, list) and args and all(isinstance(a, type) for a in args):
        text = ", ".join(a.__name__ for a in args)  # decimal: [<class 'DivisionImpossible'>]
    else:
        text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(slots=True)
class RuleErrors:
    """The errors of evaluation so far: `pending` (not yet reported) and a tally per rule."""

    pending: list[RuleError] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, RuleError] = field(default_factory=dict)  # for test/replay summaries
    last: dict[str, RuleError] = field(default_factory=dict)
    _reported_at: dict[str, dt.datetime] = field(default_factory=dict)
    _unreported: dict[str, int] = field(default_factory=dict)

    def add(self, error: RuleError) -> None:
        self.pending.append(error)
        self.counts[error.rule_id] = self.counts.get(error.rule_id, 0) + 1
        self.first.setdefault(error.rule_id, error)
        self.last[error.rule_id] = error

    def take(self) -> list[RuleError]:
        out, self.pending = self.pending, []
        return out

    def due(self, error: RuleError) -> int | None:
        """The number of errors this report stands for, or None inside the rule's quiet time."""
        last = self._reported_at.get(error.rule_id)
        if last is not None and error.ts - last < REPORT_INTERVAL and error.ts >= last:
            self._unreported[error.rule_id] = self._unreported.get(error.rule_id, 0) + 1
            return None
        self._reported_at[error.rule_id] = error.ts
        return 1 + self._unreported.pop(error.rule_id, 0)

    def unreported(self) -> list[tuple[RuleError, int]]:
        """The errors inside each rule's quiet time not reported yet (at a stop): the last one
        of each rule with their number; the tally starts again."""
        out = [(self.last[r], n) for r, n in self._unreported.items() if n]
        self._unreported.clear()
        return out


def report(
    errors: RuleErrors, metrics: Metrics, notifier: Notifier, account_id: int
) -> list[EnforcementRecord]:
    """Count every pending error; log, alert and return a record for each one due."""
    records: list[EnforcementRecord] = []
    for error in errors.take():
        metrics.rule_error(error.rule_id)
        times = errors.due(error)
        if times is not None:
            records.append(_reported(error, times, notifier, account_id))
    return records


def report_unreported(errors: RuleErrors, account_id: int) -> list[EnforcementRecord]:
    """At a stop: a record (logged, not alerted again) for the errors not reported yet, so
    the history's counts add up to the metric's."""
    out = []
    for error, times in errors.unreported():
        text = f"{error.describe()} ({times} errors since the last report); {error.consequence}"
        log.error("%s", text)
        out.append(_record(error, times, text, account_id))
    return out


def _reported(
    error: RuleError, times: int, notifier: Notifier, account_id: int
) -> EnforcementRecord:
    extra = f" ({times} errors since the last report)" if times > 1 else ""
    text = f"{error.describe()}{extra}; {error.consequence}"
    log.error("%s", text)
    notifier.alert(
        "critical",
        f"rule {error.rule_id} failed",
        text,
        {"rule": error.rule_id, "where": error.where, "count": times},
    )
    return _record(error, times, text, account_id)


def _record(error: RuleError, times: int, text: str, account_id: int) -> EnforcementRecord:
    return EnforcementRecord(
        timestamp=error.ts,
        account_id=account_id,
        rule_name=error.rule_id,
        action=error.part,
        reason=text,
        values={"where": error.where, "count": str(times)},
        target="" if error.entity == "account" else error.entity,
        outcome=Outcome.ERROR,
        error=error.error,
    )
