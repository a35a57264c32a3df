"""/metrics per account and for the fleet: every series about one account carries an `account`
label (its name), and the `rmdsl_fleet_*` totals sum them for the daemon.

Read at scrape time from the engines' memory; an idle account costs a few
dict reads (its latency summary is cached until its next enforcement), so a
scrape of 200 accounts stays within milliseconds of the event loop.
The names are those deploy/prometheus/rmdsl-alerts.yml alerts on (a test
checks every name there is exported here).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from rmdsl.dashboard.feed import AccountCounts
from rmdsl.dashboard.fleet import AccountView
from rmdsl.engine.lockouts import is_pause
from rmdsl.metrics import Series

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

QUANTILES = (0.5, 0.95, 0.99)  # and "1": the maximum of the window
WINDOW = " (the last samples the daemon keeps: quantile 0.5/0.95/0.99, 1 = max)"
LOCKOUT_KINDS = ("lockout", "symbol_block", "pause")


def add_quantiles(family: GaugeMetricFamily, series: Series, labels: list[str]) -> None:
    summary = series.summary()
    for q, value in zip(QUANTILES, (summary.p50, summary.p95, summary.p99), strict=True):
        if value is not None:
            family.add_metric([*labels, str(q)], value)
    if summary.max is not None:
        family.add_metric([*labels, "1"], summary.max)


def _gauge(name: str, doc: str, *labels: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=["account", *labels])


def fleet_families(views: Sequence[AccountView]) -> Iterator[Metric]:
    """Totals over the accounts this daemon supervises."""
    yield GaugeMetricFamily(
        "rmdsl_fleet_accounts", "accounts this daemon supervises", value=len(views)
    )
    yield GaugeMetricFamily(
        "rmdsl_fleet_accounts_reconciled",
        "accounts whose decisions run on reconciled state",
        value=sum(1 for v in views if v.engine is not None and v.reconciled),
    )
    yield GaugeMetricFamily(
        "rmdsl_fleet_accounts_locked",
        "accounts locked out as a whole",
        value=sum(1 for v in views if v.locked),
    )
    yield GaugeMetricFamily(
        "rmdsl_fleet_queue_depth",
        "events waiting now, all accounts",
        value=sum(v.engine.queue.depth for v in views if v.engine is not None),
    )
    yield GaugeMetricFamily(
        "rmdsl_fleet_goals_overdue",
        "enforcement goals past their deadline, all accounts",
        value=sum(v.overdue_goals for v in views),
    )
    outcomes = CounterMetricFamily(
        "rmdsl_fleet_enforcements",
        "enforcement records by outcome, all accounts",
        labels=["outcome"],
    )
    for outcome, n in sorted(_by_outcome(views).items()):
        outcomes.add_metric([outcome], n)
    yield outcomes


def _counts_of(view: AccountView) -> AccountCounts | None:
    """The account's counts in its feed (its own, or the daemon's shared by every account)."""
    return view.feed.accounts.get(view.account_id)


def _by_outcome(views: Sequence[AccountView]) -> dict[str, int]:
    out: dict[str, int] = {}
    for view in views:
        counts = _counts_of(view)
        for (_rule, outcome), n in counts.outcomes.items() if counts is not None else ():
            out[outcome] = out.get(outcome, 0) + n
    return out


def account_families(views: Sequence[AccountView]) -> Iterator[Metric]:
    """The state and the counts of each account, labelled with its name."""
    yield from _state(views)
    yield from _counts(views)


def _state(views: Sequence[AccountView]) -> Iterator[Metric]:
    info = _gauge(
        "rmdsl_account_info",
        "1 per supervised account: its id and ruleset (two daemons reporting one id: alert)",
        "account_id",
        "ruleset",
    )
    reconciled = _gauge("rmdsl_reconciled", "1 while decisions run on reconciled state")
    locked = _gauge("rmdsl_account_locked", "1 while the whole account is locked out")
    lockouts = _gauge("rmdsl_lockouts_active", "active lockouts by kind", "kind")
    queue = _gauge("rmdsl_queue_depth", "events waiting now")
    goals = _gauge("rmdsl_goals_open", "enforcement goals not yet reached")
    overdue = _gauge("rmdsl_goals_overdue", "enforcement goals past their deadline (5 s)")
    pnl = _gauge("rmdsl_day_pnl", "today's net P&L, realized + unrealized (account currency)")
    realized = _gauge("rmdsl_day_realized_pnl", "today's realized P&L, net of fees")
    for v in views:
        engine, label = v.engine, [v.label]
        ruleset = engine.ruleset.name if engine is not None else ""
        info.add_metric([*label, str(v.account_id), ruleset], 1)
        reconciled.add_metric(label, int(engine is not None and v.reconciled))
        locked.add_metric(label, int(v.locked))
        if engine is None:
            continue
        active = list(engine.lockouts.active.values())
        for kind in LOCKOUT_KINDS:
            n = sum(1 for lk in active if ("pause" if is_pause(lk) else str(lk.kind)) == kind)
            lockouts.add_metric([*label, kind], n)
        queue.add_metric(label, engine.queue.depth)
        goals.add_metric(label, v.open_goals)
        overdue.add_metric(label, v.overdue_goals)
        day = engine.state.ctx.day
        pnl.add_metric(label, float(day.pnl))
        realized.add_metric(label, float(day.realized_pnl))
    yield from (info, reconciled, locked, lockouts, queue, goals, overdue, pnl, realized)


def _counts(views: Sequence[AccountView]) -> Iterator[Metric]:
    firings = CounterMetricFamily(
        "rmdsl_firings", "times each rule fired", labels=["account", "rule"]
    )
    outcomes = CounterMetricFamily(
        "rmdsl_enforcements",
        "enforcement actions by rule and outcome (ok, failed, skipped, error)",
        labels=["account", "rule", "outcome"],
    )
    latency = GaugeMetricFamily(
        "rmdsl_account_enforcement_latency_ms",
        "event received -> broker call sent, this account's" + WINDOW,
        labels=["account", "quantile"],
    )
    for v in views:
        counts = _counts_of(v)
        if counts is None:
            continue
        for rule, n in sorted(counts.firings.items()):
            firings.add_metric([v.label, rule], n)
        for (rule, outcome), n in sorted(counts.outcomes.items()):
            outcomes.add_metric([v.label, rule, outcome], n)
        add_quantiles(latency, counts.latency, [v.label])
    yield from (firings, outcomes, latency)
