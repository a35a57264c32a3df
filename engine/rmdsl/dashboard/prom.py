"""/metrics: the daemon's figures in the Prometheus text format (prometheus-client).

A custom collector reads everything at scrape time from what the daemon keeps
anyway (rmdsl.metrics series, the feed's counts, the engine's lockouts and
queue), so enforcement pays nothing for a scrape it did not ask for. The six
metrics of docs/performance.md are exported as summaries of their recent
window (the quantiles the daemon alerts on) plus their count.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from rmdsl.dashboard.feed import DaemonFeed
from rmdsl.engine.lockouts import is_pause
from rmdsl.metrics import (
    ENFORCEMENT_LATENCY,
    EVENT_PROCESSING,
    QUEUE_DEPTH,
    RECONCILIATION,
    RSS,
    Series,
)

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from rmdsl.daemon import Daemon

# series name -> (metric name, help); rule evaluation time is per rule, below
SIX: tuple[tuple[str, str, str], ...] = (
    (ENFORCEMENT_LATENCY, "rmdsl_enforcement_latency_ms", "event received -> broker call sent"),
    (EVENT_PROCESSING, "rmdsl_event_processing_ms", "one event applied and evaluated"),
    (RSS, "rmdsl_rss_mb", "resident memory, sampled at each maintenance"),
    (RECONCILIATION, "rmdsl_reconciliation_ms", "snapshot fetched and applied"),
    (QUEUE_DEPTH, "rmdsl_queue_depth_seen", "queue depth seen by each dequeued event"),
)
QUANTILES = (0.5, 0.95, 0.99)  # and "1": the maximum of the window
_WINDOW = " (the last samples the daemon keeps: quantile 0.5/0.95/0.99, 1 = max)"


class DaemonCollector(Collector):
    def __init__(self, daemon: Daemon, feed: DaemonFeed) -> None:
        self.daemon, self.feed = daemon, feed

    def collect(self) -> Iterator[Metric]:
        metrics = self.daemon.metrics
        for key, name, doc in SIX:
            series = metrics.series[key]
            family = GaugeMetricFamily(name, doc + _WINDOW, labels=["quantile"])
            _add_quantiles(family, series, [])
            yield family
            yield CounterMetricFamily(f"{name}_samples", f"samples of {name}", value=series.count)
        rule_eval = GaugeMetricFamily(
            "rmdsl_rule_evaluation_ms", "one rule evaluated" + _WINDOW, labels=["rule", "quantile"]
        )
        for rule_id, series in sorted(metrics.rules.items()):
            _add_quantiles(rule_eval, series, [rule_id])
        yield rule_eval
        yield from self._counts()
        yield from self._state()

    def _counts(self) -> Iterator[Metric]:
        firings = CounterMetricFamily("rmdsl_firings", "times each rule fired", labels=["rule"])
        for rule, n in sorted(self.feed.firings.items()):
            firings.add_metric([rule], n)
        yield firings
        outcomes = CounterMetricFamily(
            "rmdsl_enforcements",
            "enforcement actions by rule and outcome (ok, failed, skipped, error)",
            labels=["rule", "outcome"],
        )
        for (rule, outcome), n in sorted(self.feed.outcomes.items()):
            outcomes.add_metric([rule, outcome], n)
        yield outcomes
        errors = CounterMetricFamily("rmdsl_rule_errors", "failed evaluations", labels=["rule"])
        for rule, n in sorted(self.daemon.metrics.rule_errors.items()):
            errors.add_metric([rule], n)
        yield errors
        yield CounterMetricFamily(
            "rmdsl_reconnects", "broker reconnections since start", value=self.feed.reconnects
        )

    def _state(self) -> Iterator[Metric]:
        engine = self.daemon.engine
        active = list(engine.lockouts.active.values()) if engine is not None else []
        lockouts = GaugeMetricFamily(
            "rmdsl_lockouts_active", "active lockouts by kind", labels=["kind"]
        )
        for kind in ("lockout", "symbol_block", "pause", "reduce_only"):
            n = sum(1 for lk in active if ("pause" if is_pause(lk) else str(lk.kind)) == kind)
            lockouts.add_metric([kind], n)
        yield lockouts
        yield GaugeMetricFamily(
            "rmdsl_account_locked",
            "1 while the whole account is locked out",
            value=int(engine is not None and engine.lockouts.account_locked),
        )
        yield GaugeMetricFamily(
            "rmdsl_queue_depth", "events waiting now", value=engine.queue.depth if engine else 0
        )
        dashboard = self.daemon.dashboard
        if dashboard is not None:
            cost = GaugeMetricFamily(
                "rmdsl_dashboard_snapshot_ms",
                "one page snapshot built" + _WINDOW,
                labels=["quantile"],
            )
            _add_quantiles(cost, dashboard.snapshot_ms, [])
            yield cost
        yield GaugeMetricFamily(
            "rmdsl_reconciled",
            "1 while decisions run on reconciled state",
            value=int(self.daemon.reconciled),
        )


def _add_quantiles(family: GaugeMetricFamily, series: Series, labels: list[str]) -> None:
    summary = series.summary()
    for q, value in zip(QUANTILES, (summary.p50, summary.p95, summary.p99), strict=True):
        if value is not None:
            family.add_metric([*labels, str(q)], value)
    if summary.max is not None:
        family.add_metric([*labels, "1"], summary.max)


def registry(daemon: Daemon, feed: DaemonFeed) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(DaemonCollector(daemon, feed))
    return reg


def exposition(reg: CollectorRegistry) -> bytes:
    return generate_latest(reg)
