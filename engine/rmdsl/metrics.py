"""The six engine metrics (docs/decisions.md Q20): bounded series, percentiles, alerts.

Each series keeps the last `capacity` samples in a ring (memory is fixed),
reports p50 always and p95/p99 only from 100 samples on, and raises an alert
through the Notifier when its threshold is crossed (rate-limited per metric).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from rmdsl.engine.persistence import MetricSample
from rmdsl.notify import Notifier

MIN_SAMPLES_P95 = 100
RULE_ALERT_MS = 20.0  # one evaluation of a rule slower than this alerts
ALERT_INTERVAL_S = 300.0
SHARED_EVERY_S = 60.0  # a fleet's shared series are persisted (and RSS sampled) this often
DAEMON = 0  # the account_id of rows that are the daemon's, not one account's

ENFORCEMENT_LATENCY = "enforcement_latency_ms"
EVENT_PROCESSING = "event_processing_ms"
RSS = "rss_mb"
RECONCILIATION = "reconciliation_ms"
QUEUE_DEPTH = "queue_depth"
RULE_EVALUATION = "rule_evaluation_ms"
RULE_ERRORS = "rule_errors"  # a count per rule, not a latency series (engine/ruleerrors.py)


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


class Series:
    """A fixed ring of float samples with nearest-rank percentiles.

    The ring is an array of C doubles (8 bytes a sample, not a deque of float objects
    at ~32): a daemon of many accounts keeps one set of series per account.
    """

    __slots__ = ("_capacity", "_ring", "_summary", "count")

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._ring = array("d")
        self.count = 0  # all samples ever, not only those kept
        self._summary: Summary | None = None  # of the ring at `count` samples

    def add(self, value: float) -> None:
        if self.count < self._capacity:
            self._ring.append(value)
        else:
            self._ring[self.count % self._capacity] = value
        self.count += 1

    def last(self) -> float | None:
        """The newest sample (benchmarks/engine_bench.py reads each event's span by it)."""
        return self._ring[(self.count - 1) % self._capacity] if self.count else None

    def values(self) -> list[float]:
        """The samples kept, oldest first."""
        at = self.count % self._capacity if self.count > self._capacity else 0
        return self._ring[at:].tolist() + self._ring[:at].tolist()

    def summary(self) -> Summary:
        """Kept until the next sample: a scrape of many idle accounts sorts nothing."""
        if self._summary is None or self._summary.count != self.count:
            self._summary = self._summarise()
        return self._summary

    def _summarise(self) -> Summary:
        data = sorted(self._ring)
        if not data:
            return Summary(self.count, None, None, None, None)
        enough = len(data) >= MIN_SAMPLES_P95
        return Summary(
            self.count,
            _rank(data, 0.50),
            _rank(data, 0.95) if enough else None,
            _rank(data, 0.99) if enough else None,
            data[-1],
        )

    def share_over(self, limit: float) -> float:
        if not self._ring:
            return 0.0
        return sum(1 for v in self._ring if v > limit) / len(self._ring)


def _rank(data: list[float], q: float) -> float:
    return data[max(math.ceil(q * len(data)) - 1, 0)]


def rss_mb() -> float:
    """Resident set size of this process now (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1_048_576
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Metrics:
    """Collects the six metrics; `check_*` calls alert through the notifier when over threshold."""

    def __init__(
        self,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.monotonic,
        capacity: int = 4096,
    ) -> None:
        self.notifier = notifier
        self._clock = clock
        self._capacity = capacity
        self.series: dict[str, Series] = {
            name: Series(capacity)
            for name in (ENFORCEMENT_LATENCY, EVENT_PROCESSING, RSS, RECONCILIATION, QUEUE_DEPTH)
        }
        self.rules: dict[str, Series] = {}
        self.rule_errors: dict[str, int] = {}  # rule id -> evaluation errors since start
        self._last_alert: dict[str, float] = {}
        self._round: SharedRound | None = None  # set on the accounts of a fleet

    def for_account(self, notifier: Notifier | None, every_s: float = SHARED_EVERY_S) -> Metrics:
        """One account's metrics in a daemon of many: the latency series are this one's
        (shared: one ring per series for the whole daemon, not ~300 KB an account), the
        rule error counts and the alerts (through the account's notifier) its own.

        The shared series are persisted once per round of `every_s` by whichever account's
        maintenance comes first, under account_id DAEMON: 200 accounts writing the same
        ~27 series' summaries every minute was ~22,000 rows a minute for ~110 of content."""
        if self._round is None:
            self._round = SharedRound(self._clock, every_s)
        mine = Metrics(notifier, self._clock, capacity=1)
        mine._capacity = self._capacity
        mine.series, mine.rules, mine._round = self.series, self.rules, self._round
        return mine

    # ---- recording (hot path: keep these cheap) --------------------------------------------
    def event_processed(self, elapsed_ns: int) -> None:
        ms = elapsed_ns / 1e6
        self.series[EVENT_PROCESSING].add(ms)
        if ms > 50:
            self._alert(EVENT_PROCESSING, f"event processing took {ms:.1f} ms (alert > 50 ms)")

    def rule_evaluated(self, rule_id: str, elapsed_ns: int) -> None:
        ms = elapsed_ns / 1e6
        self.rule_series(rule_id).add(ms)
        if ms > RULE_ALERT_MS:
            self.rule_slow(rule_id, ms)

    def rule_series(self, rule_id: str) -> Series:
        """A rule's evaluation times (ms), made at its first use: the engine's evaluator holds
        each rule's series, so its hot loop adds a sample without looking it up."""
        series = self.rules.get(rule_id)
        if series is None:
            series = self.rules[rule_id] = Series(min(self._capacity, 1024))
        return series

    def rule_slow(self, rule_id: str, ms: float) -> None:
        """One evaluation of a rule took over RULE_ALERT_MS."""
        self._alert(f"{RULE_EVALUATION}:{rule_id}", f"rule {rule_id} took {ms:.1f} ms")

    def rule_error(self, rule_id: str) -> None:
        """One failed evaluation of a rule (the engine alerts on it itself, per rule)."""
        self.rule_errors[rule_id] = self.rule_errors.get(rule_id, 0) + 1

    def enforcement(self, latency_ms: float) -> None:
        series = self.series[ENFORCEMENT_LATENCY]
        series.add(latency_ms)
        if latency_ms > 1000:
            self._alert(ENFORCEMENT_LATENCY, f"enforcement took {latency_ms:.0f} ms (max 1000 ms)")
        elif len(series.values()) >= MIN_SAMPLES_P95 and series.share_over(500) > 0.05:
            share = series.share_over(500) * 100
            self._alert(ENFORCEMENT_LATENCY, f"{share:.1f}% of enforcements over 500 ms (max 5%)")

    def reconciled(self, elapsed_ms: float) -> None:
        self.series[RECONCILIATION].add(elapsed_ms)
        if elapsed_ms > 10_000:
            self._alert(RECONCILIATION, f"reconciliation took {elapsed_ms / 1000:.1f} s (> 10 s)")

    def queue_depth(self, depth: int) -> None:
        self.series[QUEUE_DEPTH].add(depth)
        if depth > 1000:
            self._alert(QUEUE_DEPTH, f"event queue depth {depth} (alert > 1000)")

    def memory(self, mb: float | None = None) -> float:
        value = rss_mb() if mb is None else mb
        series = self.series[RSS]
        series.add(value)
        if value > 200:
            self._alert(RSS, f"RSS {value:.0f} MB (alert > 200 MB)")
        elif _growing(series.values()):
            self._alert(RSS, f"RSS keeps growing: {value:.0f} MB")
        return value

    # ---- reporting ---------------------------------------------------------------------------
    def _alert(self, key: str, body: str) -> None:
        now = self._clock()
        last = self._last_alert.get(key)
        if last is not None and now - last < ALERT_INTERVAL_S:
            return
        self._last_alert[key] = now
        if self.notifier is not None:
            self.notifier.alert("warning", f"metric {key.split(':')[0]}", body, {"metric": key})

    def summaries(self) -> dict[str, Summary]:
        out = {name: s.summary() for name, s in self.series.items()}
        out.update({f"{RULE_EVALUATION}:{rid}": s.summary() for rid, s in self.rules.items()})
        return out

    def periodic(self, ts: dt.datetime, account_id: int) -> list[MetricSample]:
        """An account's maintenance: RSS sampled and every series' summary, or in a fleet,
        only when this round's shared series are still due (else its rule errors alone)."""
        due = self._round is None or self._round.claim()
        if due:
            self.memory()
        return self.samples(ts, account_id, series=due)

    def samples(
        self, ts: dt.datetime, account_id: int = 0, series: bool = True
    ) -> list[MetricSample]:
        """p50/p95/p99/max of every series (unless not `series`) and the rule error counts,
        for StateStore.record_metrics; a fleet's shared series under account_id DAEMON."""
        out: list[MetricSample] = []
        owner = account_id if self._round is None else DAEMON
        for key, summary in self.summaries().items() if series else ():
            name, _, label = key.partition(":")
            for stat in ("p50", "p95", "p99", "max"):
                value = getattr(summary, stat)
                if value is not None:
                    out.append(MetricSample(f"{name}.{stat}", value, ts, label, owner))
        for rule_id, count in self.rule_errors.items():
            out.append(MetricSample(f"{RULE_ERRORS}.count", float(count), ts, rule_id, account_id))
        return out


class SharedRound:
    """When a fleet's shared series were last persisted: the first account's maintenance
    of a round claims it, the others of that round write only their own rows."""

    __slots__ = ("_clock", "_last", "every_s")

    def __init__(self, clock: Callable[[], float], every_s: float) -> None:
        self._clock, self.every_s = clock, every_s
        self._last: float | None = None

    def claim(self) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self.every_s:
            return False
        self._last = now
        return True


def _growing(values: list[float], window: int = 12, min_growth_mb: float = 20.0) -> bool:
    """A steady rise over the last `window` samples (each >= the one before) by min_growth_mb."""
    if len(values) < window:
        return False
    tail = values[-window:]
    rising = all(b >= a for a, b in itertools.pairwise(tail))
    return rising and tail[-1] - tail[0] >= min_growth_mb
