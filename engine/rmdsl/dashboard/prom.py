"""/metrics: the daemon's figures in the Prometheus text format (prometheus-client).

A custom collector reads everything at scrape time from what the daemon keeps
anyway (rmdsl.metrics series, the feed's counts, the engine's lockouts and
queue), so enforcement pays nothing for a scrape it did not ask for. The six
metrics of docs/performance.md are exported as summaries of their recent
window (the quantiles the daemon alerts on) plus their count; the state of
each supervised account carries an `account` label, beside the fleet's totals
(docs/operations.md, "Dashboard, /metrics, /healthz").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from rmdsl.dashboard.feed import DaemonFeed
from rmdsl.dashboard.fleet import accounts_of
from rmdsl.dashboard.prom_accounts import (
    WINDOW,
    account_text,
    account_text_sliced,
    add_quantiles,
    fleet_families,
)
from rmdsl.metrics import (
    ENFORCEMENT_LATENCY,
    EVENT_PROCESSING,
    QUEUE_DEPTH,
    RECONCILIATION,
    RSS,
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


class DaemonCollector(Collector):
    """The daemon's own series (process-wide, unlabelled), the fleet's totals, and every
    supervised account's series labelled `account` (rmdsl.dashboard.prom_accounts)."""

    def __init__(self, daemon: Daemon, feed: DaemonFeed) -> None:
        self.daemon, self.feed = daemon, feed

    def collect(self) -> Iterator[Metric]:
        metrics = self.daemon.metrics
        for key, name, doc in SIX:
            series = metrics.series[key]
            family = GaugeMetricFamily(name, doc + WINDOW, labels=["quantile"])
            add_quantiles(family, series, [])
            yield family
            yield CounterMetricFamily(f"{name}_samples", f"samples of {name}", value=series.count)
        rule_eval = GaugeMetricFamily(
            "rmdsl_rule_evaluation_ms", "one rule evaluated" + WINDOW, labels=["rule", "quantile"]
        )
        for rule_id, series in sorted(metrics.rules.items()):
            add_quantiles(rule_eval, series, [rule_id])
        yield rule_eval
        errors = CounterMetricFamily("rmdsl_rule_errors", "failed evaluations", labels=["rule"])
        for rule, n in sorted(metrics.rule_errors.items()):
            errors.add_metric([rule], n)
        yield errors
        yield CounterMetricFamily(
            "rmdsl_reconnects", "broker reconnections since start", value=self.feed.reconnects
        )
        yield from self._dashboard()
        views = accounts_of(self.daemon)
        yield from fleet_families(views)  # the accounts' own: account_text, beside

    def _dashboard(self) -> Iterator[Metric]:
        dashboard = self.daemon.dashboard
        if dashboard is not None:
            cost = GaugeMetricFamily(
                "rmdsl_dashboard_snapshot_ms",
                "one page snapshot built" + WINDOW,
                labels=["quantile"],
            )
            add_quantiles(cost, dashboard.snapshot_ms, [])
            yield cost


def registry(daemon: Daemon, feed: DaemonFeed) -> CollectorRegistry:
    from prometheus_client.process_collector import ProcessCollector

    reg = CollectorRegistry(auto_describe=False)
    reg.register(DaemonCollector(daemon, feed))
    ProcessCollector(registry=reg)  # process_resident_memory_bytes, ..._cpu_seconds_total
    return reg


def exposition(reg: CollectorRegistry, daemon: Daemon) -> bytes:
    """The daemon's and the fleet's families (prometheus_client), then each account's."""
    return generate_latest(reg) + account_text(accounts_of(daemon)).encode()


async def exposition_sliced(reg: CollectorRegistry, daemon: Daemon) -> bytes:
    """exposition as the /metrics route serves it: the accounts' lines written a slice at a
    time, yielding to the event loop between slices (account_text_sliced)."""
    head = generate_latest(reg)
    return head + (await account_text_sliced(accounts_of(daemon))).encode()
