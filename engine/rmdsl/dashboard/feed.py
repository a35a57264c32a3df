"""What the daemon tells its dashboard: enforcement records, reload results, reconnects.

The engine never waits on any of this: each hook appends to memory and bumps a
version number, and the dashboard reads it when it next takes a snapshot.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from rmdsl.engine.persistence import (
    EnforcementRecord,
    Outcome,
    RecordEnforcement,
    StateStore,
    Write,
)
from rmdsl.errors import Diagnostic
from rmdsl.metrics import Series

HISTORY = 200  # the newest enforcement records the page can show
# per account when a daemon supervises several: 200 accounts x 200 records held ~40 MB
# (the hour-long fleet run, docs/performance.md); every record stays in the state
# database for `rmdsl history` and the page's account view
FLEET_HISTORY = 20
LATENCY_WINDOW = 256  # enforcement latencies kept per account


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """The last hot reload: accepted (`digest` set) or refused (`errors` set)."""

    at: dt.datetime
    ok: bool
    digest: str = ""
    name: str = ""
    errors: tuple[str, ...] = ()


class AccountCounts:
    """One account's counts since start: firings per rule, records per rule and outcome, and
    the latency of its enforcements (a small ring: /metrics reads its quantiles per account)."""

    __slots__ = ("_last_firing", "firings", "latency", "outcomes")

    def __init__(self) -> None:
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (rule, outcome) -> records
        self.firings: Counter[str] = Counter()  # rule -> distinct instants it fired at
        self.latency = Series(LATENCY_WINDOW)  # event received -> broker call sent, ms
        self._last_firing: dict[str, dt.datetime] = {}

    def count(self, record: EnforcementRecord) -> None:
        self.outcomes[(record.rule_name, str(record.outcome))] += 1
        if record.latency_ms is not None and record.action_sent_ts is not None:
            self.latency.add(record.latency_ms)
        if record.outcome is not Outcome.ERROR:
            # one firing may write several records (flatten + lockout): count it once
            if self._last_firing.get(record.rule_name) != record.timestamp:
                self._last_firing[record.rule_name] = record.timestamp
                self.firings[record.rule_name] += 1


class DaemonFeed:
    """In-memory: the newest records, counts per account, rule and outcome, the last reload."""

    def __init__(self, history: int = HISTORY) -> None:
        self.records: deque[EnforcementRecord] = deque(maxlen=history)
        self.accounts: dict[int, AccountCounts] = {}  # account id -> its counts
        self.reload: ReloadResult | None = None
        self.reconnects = 0
        self.version = 0  # bumped on every change: a snapshot is rebuilt only when it moved

    def of(self, account_id: int) -> AccountCounts:
        """The counts of one account (empty until its first record)."""
        counts = self.accounts.get(account_id)
        if counts is None:
            counts = self.accounts[account_id] = AccountCounts()
        return counts

    @property
    def firings(self) -> Counter[str]:
        """Firings per rule over every account (the fleet's total)."""
        return sum((c.firings for c in self.accounts.values()), Counter())

    @property
    def outcomes(self) -> Counter[tuple[str, str]]:
        """Records per rule and outcome over every account."""
        return sum((c.outcomes for c in self.accounts.values()), Counter())

    def record(self, record: EnforcementRecord) -> None:
        self.records.append(record)
        self.of(record.account_id).count(record)
        self.version += 1

    def reloaded(self, at: dt.datetime, name: str, digest: str) -> None:
        self.reload = ReloadResult(at, True, digest=digest, name=name)
        self.version += 1

    def refused(self, at: dt.datetime, diagnostics: Sequence[Diagnostic]) -> None:
        from rmdsl.errors import render_all

        self.reload = ReloadResult(at, False, errors=tuple(render_all(diagnostics).splitlines()))
        self.version += 1

    def reconnected(self) -> None:
        self.reconnects += 1
        self.version += 1


class TappedStore:
    """The daemon's store as the engine sees it: every committed enforcement record is also
    handed to the feed. The engine's write-behind writer commits through `apply` (a step's
    writes in one transaction): its records reach the feed once committed, in order.
    Everything else is the store's own (attribute access passes through).
    """

    def __init__(self, inner: StateStore, feed: DaemonFeed) -> None:
        self._inner = inner
        self._feed = feed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def apply(self, writes: Sequence[Write]) -> None:
        await self._inner.apply(writes)  # a failed batch is retried: reported once committed
        for write in writes:
            if isinstance(write, RecordEnforcement):
                self._feed.record(write.record)

    async def record_enforcement(self, record: EnforcementRecord) -> None:
        await self._inner.record_enforcement(record)
        self._feed.record(record)


def tapped(store: StateStore, feed: DaemonFeed) -> StateStore:
    return cast(StateStore, TappedStore(store, feed))
