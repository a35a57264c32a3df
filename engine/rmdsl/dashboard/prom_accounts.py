"""/metrics per account and for the fleet: every series about one account carries an `account`
label (its name), and the `rmdsl_fleet_*` totals sum them for the daemon.

Read at scrape time from the engines' memory; an idle account costs a few
dict reads (its latency summary is cached until its next enforcement), so a
scrape of 200 accounts stays within milliseconds of the event loop.
The names are those deploy/prometheus/rmdsl-alerts.yml alerts on (a test
checks every name there is exported here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from rmdsl.dashboard.feed import AccountCounts
from rmdsl.dashboard.fleet import AccountView
from rmdsl.engine.lockouts import is_pause
from rmdsl.lang.schema import MLL_DISTANCE
from rmdsl.metrics import Series

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from rmdsl.engine.core import Engine

QUANTILES = (0.5, 0.95, 0.99)  # and "1": the maximum of the window
WINDOW = " (the last samples the daemon keeps: quantile 0.5/0.95/0.99, 1 = max)"
SLICE = 20  # accounts written between two yields to the loop (~2 ms)
LOCKOUT_KINDS = ("lockout", "symbol_block", "pause", "reduce_only")


def add_quantiles(family: GaugeMetricFamily, series: Series, labels: list[str]) -> None:
    summary = series.summary()
    for q, value in zip(QUANTILES, (summary.p50, summary.p95, summary.p99), strict=True):
        if value is not None:
            family.add_metric([*labels, str(q)], value)
    if summary.max is not None:
        family.add_metric([*labels, "1"], summary.max)


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


def account_text(views: Sequence[AccountView]) -> str:
    """The state and the counts of each account, labelled with its name, in the Prometheus
    text format, written here: prometheus_client spends ~25 us a sample, 75 ms of the event
    loop for a scrape of 200 accounts; these lines cost ~2 us each."""
    rows = Rows()
    for view in views:
        rows.add(view)
    return rows.text()


async def account_text_sliced(views: Sequence[AccountView], per_slice: int = SLICE) -> str:
    """account_text, yielding to the event loop every `per_slice` accounts: a scrape of 200
    accounts (~20 ms of writing) never holds the loop more than one slice's few ms, so a
    breaking fill that arrives during a scrape waits a slice, not the scrape. Each account's
    lines are read in one go (consistent per account; the fleet is not one instant)."""
    rows = Rows()
    for i, view in enumerate(views):
        if i and i % per_slice == 0:
            await asyncio.sleep(0)
        rows.add(view)
    return rows.text()


class Rows:
    """The samples of every per-account family, filled one account at a time."""

    def __init__(self) -> None:
        self.state: dict[str, list[str]] = {name: [] for name, _ in STATE}
        self.firings: list[str] = []
        self.outcomes: list[str] = []
        self.latency: list[str] = []

    def add(self, view: AccountView) -> None:
        _state(view, self.state)
        _counts(view, self)

    def text(self) -> str:
        out = Exposition()
        for name, doc in STATE:
            out.family(name, "gauge", doc, self.state[name])
        out.family("rmdsl_firings_total", "counter", "times each rule fired", self.firings)
        out.family(
            "rmdsl_enforcements_total",
            "counter",
            "enforcement actions by rule and outcome (ok, failed, skipped, error)",
            self.outcomes,
        )
        doc = "event received -> broker call sent, this account's" + WINDOW
        out.family(LATENCY, "gauge", doc, self.latency)
        return out.text()


class Exposition:
    """Families of samples in the text format (version 0.0.4), as generate_latest writes
    them: HELP, TYPE, then `name{label="value",...} 1.0` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, doc: str, samples: list[str]) -> None:
        self.lines.append(f"# HELP {name} {doc}")
        self.lines.append(f"# TYPE {name} {kind}")
        self.lines.extend(samples)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n" if self.lines else ""


def sample(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}} {float(value)!r}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


STATE = (  # name, help
    ("rmdsl_account_info", "1 per supervised account: its id and ruleset (two daemons: alert)"),
    ("rmdsl_reconciled", "1 while decisions run on reconciled state"),
    ("rmdsl_account_locked", "1 while the whole account is locked out"),
    ("rmdsl_lockouts_active", "active lockouts by kind"),
    ("rmdsl_queue_depth", "events waiting now"),
    ("rmdsl_goals_open", "enforcement goals not yet reached"),
    ("rmdsl_goals_overdue", "enforcement goals past their deadline (5 s)"),
    ("rmdsl_day_pnl", "today's net P&L, realized + unrealized (account currency)"),
    ("rmdsl_day_realized_pnl", "today's realized P&L, net of fees"),
    ("rmdsl_account_to_mll", "account.to_mll: net balance minus the Maximum Loss Limit"),
)


def _state(v: AccountView, rows: dict[str, list[str]]) -> None:
    engine, who = v.engine, {"account": v.label}
    ruleset = engine.ruleset.name if engine is not None else ""
    info = who | {"account_id": str(v.account_id), "ruleset": ruleset}
    rows["rmdsl_account_info"].append(sample("rmdsl_account_info", info, 1))
    reconciled = engine is not None and v.reconciled
    rows["rmdsl_reconciled"].append(sample("rmdsl_reconciled", who, reconciled))
    rows["rmdsl_account_locked"].append(sample("rmdsl_account_locked", who, v.locked))
    if engine is None:
        return
    active = list(engine.lockouts.active.values())
    for kind in LOCKOUT_KINDS:
        n = sum(1 for lk in active if ("pause" if is_pause(lk) else str(lk.kind)) == kind)
        rows["rmdsl_lockouts_active"].append(
            sample("rmdsl_lockouts_active", who | {"kind": kind}, n)
        )
    day = engine.state.ctx.day
    for name, value in (
        ("rmdsl_queue_depth", engine.queue.depth),
        ("rmdsl_goals_open", v.open_goals),
        ("rmdsl_goals_overdue", v.overdue_goals),
        ("rmdsl_day_pnl", float(day.pnl)),
        ("rmdsl_day_realized_pnl", float(day.realized_pnl)),
    ):
        rows[name].append(sample(name, who, value))
    to_mll = _to_mll(engine)
    if to_mll is not None:
        rows["rmdsl_account_to_mll"].append(sample("rmdsl_account_to_mll", who, to_mll))


def _to_mll(engine: Engine) -> float | None:
    """account.to_mll of a ruleset with an MLL model (`mll_distance` set), once the gateway
    has reported a balance (NaN before: not exported, an alert must not read it as 0)."""
    if MLL_DISTANCE not in engine.ruleset.params:
        return None
    value = engine.state.ctx.account.to_mll
    return None if value.is_nan() else float(value)


def _counts(v: AccountView, rows: Rows) -> None:
    counts = _counts_of(v)
    if counts is None:
        return
    who = {"account": v.label}
    for rule, n in sorted(counts.firings.items()):
        rows.firings.append(sample("rmdsl_firings_total", who | {"rule": rule}, n))
    for (rule, outcome), n in sorted(counts.outcomes.items()):
        labels = who | {"rule": rule, "outcome": outcome}
        rows.outcomes.append(sample("rmdsl_enforcements_total", labels, n))
    summary = counts.latency.summary()
    stats = zip(
        ("0.5", "0.95", "0.99", "1"),
        (summary.p50, summary.p95, summary.p99, summary.max),
        strict=True,
    )
    for q, value in stats:
        if value is not None:
            rows.latency.append(sample(LATENCY, who | {"quantile": q}, value))


LATENCY = "rmdsl_account_enforcement_latency_ms"
