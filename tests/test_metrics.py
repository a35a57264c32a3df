"""The six metrics: percentiles (p95 from 100 samples), bounded memory, threshold alerts."""

from __future__ import annotations

import datetime as dt

from rmdsl.metrics import (
    DAEMON,
    ENFORCEMENT_LATENCY,
    EVENT_PROCESSING,
    QUEUE_DEPTH,
    RECONCILIATION,
    RSS,
    Metrics,
    Series,
    rss_mb,
)
from rmdsl.notify import CollectingNotifier


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def metrics() -> tuple[Metrics, CollectingNotifier, Clock]:
    n, c = CollectingNotifier(), Clock()
    return Metrics(n, clock=c), n, c


def test_p95_and_p99_need_100_samples() -> None:
    s = Series()
    for v in range(1, 100):
        s.add(float(v))
    summary = s.summary()
    assert summary.p50 == 50 and summary.p95 is None and summary.p99 is None
    s.add(100.0)
    summary = s.summary()
    assert (summary.p50, summary.p95, summary.p99, summary.max) == (50, 95, 99, 100)


def test_series_memory_is_bounded() -> None:
    s = Series(capacity=10)
    for v in range(1000):
        s.add(float(v))
    assert len(s.values()) == 10 and s.count == 1000 and s.summary().p50 == 994


def test_enforcement_latency_alerts_when_over_5_percent_exceed_500ms() -> None:
    m, n, _ = metrics()
    for _ in range(95):
        m.enforcement(100)
    for _ in range(5):
        m.enforcement(600)
    assert n.alerts == []  # exactly 5%: not more than 5%
    m.enforcement(600)
    assert [a.title for a in n.alerts] == [f"metric {ENFORCEMENT_LATENCY}"]


def test_a_single_latency_over_the_maximum_alerts() -> None:
    m, n, _ = metrics()
    m.enforcement(1500)
    assert len(n.alerts) == 1


def test_alerts_are_rate_limited_per_metric() -> None:
    m, n, c = metrics()
    m.event_processed(60_000_000)
    m.event_processed(60_000_000)
    assert len(n.alerts) == 1
    c.t = 301
    m.event_processed(60_000_000)
    assert len(n.alerts) == 2
    m.event_processed(5_000_000)
    assert len(n.alerts) == 2


def test_thresholds_of_every_metric() -> None:
    m, n, _ = metrics()
    m.event_processed(50_000_000)  # exactly 50 ms: fine
    m.rule_evaluated("r", 20_000_000)
    m.reconciled(10_000)
    m.queue_depth(1000)
    m.memory(200)
    assert n.alerts == []
    m.rule_evaluated("r", 20_000_001)
    m.reconciled(10_001)
    m.queue_depth(1001)
    m.memory(201)
    m.event_processed(50_000_001)
    keys = sorted(a.fields["metric"] for a in n.alerts)
    assert keys == sorted(
        [EVENT_PROCESSING, "rule_evaluation_ms:r", RECONCILIATION, QUEUE_DEPTH, RSS]
    )


def test_growing_rss_alerts() -> None:
    m, n, _ = metrics()
    for i in range(12):
        m.memory(50 + i * 2)
    assert [a.fields["metric"] for a in n.alerts] == [RSS]


def test_flat_rss_does_not_alert() -> None:
    m, n, _ = metrics()
    for i in range(30):
        m.memory(60 + (i % 3))
    assert n.alerts == []


def test_samples_for_the_store() -> None:
    m, _, _ = metrics()
    for _ in range(100):
        m.rule_evaluated("daily", 2000)
    ts = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    samples = m.samples(ts, 7)
    names = {(s.name, s.label) for s in samples}
    assert ("rule_evaluation_ms.p95", "daily") in names
    assert all(s.ts == ts and s.account_id == 7 for s in samples)
    assert next(s.value for s in samples if s.name == "rule_evaluation_ms.p50") == 0.002


def test_rss_is_measured() -> None:
    assert 1 < rss_mb() < 10_000


def test_a_full_series_keeps_8_bytes_a_sample_in_order() -> None:
    """A daemon of 200 accounts keeps 200 sets of series: a ring of float objects would
    cost ~4 times as much (~130 KB per 4096-sample series instead of ~33 KB)."""
    import tracemalloc

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        s = Series(4096)
        for v in range(5000):
            s.add(v * 0.5)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert used < 4096 * 8 * 1.2, used
    values = s.values()
    assert len(values) == 4096 and values[0] == 904 * 0.5 and values[-1] == 4999 * 0.5


def test_accounts_of_a_daemon_share_its_series_and_keep_their_own_errors() -> None:
    daemon, _, _ = metrics()
    a_alerts, b_alerts = CollectingNotifier(), CollectingNotifier()
    a, b = daemon.for_account(a_alerts), daemon.for_account(b_alerts)
    a.event_processed(1_000)
    b.event_processed(2_000)
    b.rule_evaluated("r", 500)
    assert daemon.series[EVENT_PROCESSING].count == 2 and daemon.rules["r"].count == 1
    a.rule_error("r")
    assert (a.rule_errors, b.rule_errors, daemon.rule_errors) == ({"r": 1}, {}, {})
    b.event_processed(60_000_000)  # 60 ms: alerted through the account's own notifier
    assert [x.title for x in b_alerts.alerts] == ["metric event_processing_ms"]
    assert a_alerts.alerts == []


def test_a_fleet_persists_its_shared_series_once_a_round_and_each_accounts_errors() -> None:
    """200 accounts sharing ~27 series wrote 200 copies of them every minute; one does."""
    daemon, _, clock = metrics()
    accounts = [daemon.for_account(CollectingNotifier(), every_s=60.0) for _ in range(5)]
    for i, account in enumerate(accounts):
        account.event_processed(1_000 * (i + 1))
        account.rule_evaluated("r", 500)
        account.rule_error(f"rule{i}")
    ts = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    first = [a.periodic(ts, account_id=i + 1) for i, a in enumerate(accounts)]
    series_rows = [s for rows in first for s in rows if not s.name.startswith("rule_errors")]
    one_copy = [s for s in daemon.samples(ts, series=True) if s.account_id == 0]
    assert len(series_rows) == len(one_copy) > 0  # the series count, not 5 times it
    assert {s.account_id for s in series_rows} == {DAEMON}
    assert ("rss_mb.p50", "") in {(s.name, s.label) for s in series_rows}  # sampled once
    assert daemon.series[RSS].count == 1
    for i, rows in enumerate(first):  # every account's own errors, under its own id
        errors = [(s.label, s.account_id) for s in rows if s.name == "rule_errors.count"]
        assert errors == [(f"rule{i}", i + 1)]
    clock.t = 59.0
    assert all(len(a.periodic(ts, 1)) == 1 for a in accounts)  # still this round: errors only
    clock.t = 60.0
    again = [len(a.periodic(ts, 1)) for a in accounts]
    assert again == [len(series_rows) + 1, 1, 1, 1, 1] and daemon.series[RSS].count == 2


def test_a_single_accounts_metrics_persist_every_series_under_its_own_id_each_time() -> None:
    m, _, _ = metrics()
    m.event_processed(1_000)
    ts = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert m.periodic(ts, 7) and m.periodic(ts, 7)  # no round to share: every maintenance
    assert {s.account_id for s in m.periodic(ts, 7)} == {7} and m.series[RSS].count == 3


def test_series_last_is_the_newest_sample_also_after_the_ring_wraps() -> None:
    s = Series(capacity=3)
    assert s.last() is None
    for v in (1.0, 2.0, 3.0, 4.0):
        s.add(v)
        assert s.last() == v
