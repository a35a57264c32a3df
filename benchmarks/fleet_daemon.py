"""The fleet benchmark's daemon: one rmdsl daemon over N accounts of one login, as `rmdsl run
--config` builds it (Daemon.for_accounts over a ProjectXLogin), on the gateway's clock.

Alerts go where a service's go (the log, behind the rate limiter), with the log at
ERROR: a notifier that kept every alert would grow with the run and be counted as
the daemon's memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fleet_gateway
from rmdsl.accounts import AccountEntry
from rmdsl.broker.projectx_fleet import ProjectXLogin
from rmdsl.broker.projectx_rate import Budget
from rmdsl.daemon import Daemon
from rmdsl.dashboard import DashboardOptions
from rmdsl.demo.sim import API_KEY, USERNAME
from rmdsl.engine.tradingday import Calendar
from rmdsl.notify import LogNotifier, RateLimitedNotifier
from rmdsl.pipeline import load_ruleset
from rmdsl.store import SqliteStore

READY_S = 600.0  # start-up of 200 accounts under the gateway's request budget takes minutes


@dataclass
class RunningFleet:
    daemon: Daemon
    policed_s: float | None = None  # from start until every account's engine enforces

    @property
    def metrics_url(self) -> str:
        assert self.daemon.dashboard is not None
        return str(self.daemon.dashboard.url) + "metrics"

    def metrics_objects(self) -> list[Any]:
        """Every distinct Metrics the engines report to (one shared, or one per account)."""
        seen: dict[int, Any] = {}
        for sup in self.daemon.accounts.values():
            if sup.engine is not None:
                seen[id(sup.engine.metrics)] = sup.engine.metrics
        return list(seen.values())

    async def stop(self) -> None:
        await self.daemon.stop()


async def start_fleet(
    urls: dict[str, str], names: list[str], ruleset: Path, tmp: Path, plan: fleet_gateway.Plan
) -> RunningFleet:
    """Login, connect, claim and reconcile every account; returns once all enforce."""
    clock = fleet_gateway.SharedClock(plan.start, plan.anchor)
    calendar = Calendar.of(load_ruleset(ruleset))

    def day_start(_wall_now: dt.datetime) -> dt.datetime:
        return calendar.last_reset(clock.now())

    budget = None if plan.rate_limits else Budget(limit=10**9, window_s=60, reserve=0)
    login = ProjectXLogin(
        budget=budget,  # no gateway budget: the client's pacing off too
        api_key=API_KEY,
        username=USERNAME,
        api_url=urls["api"],
        user_hub_url=urls["user"],
        market_hub_url=urls["market"],
        day_start=day_start,
    )
    daemon = Daemon.for_accounts(
        [AccountEntry(name, ruleset) for name in names],
        login,
        SqliteStore(tmp / "fleet.db"),
        RateLimitedNotifier(LogNotifier()),
        clock=clock.now,
        reload=False,
        lock_dir=tmp / "locks",
        dashboard=DashboardOptions(port=0),
    )
    _dump_tasks_on_sigusr1()
    progress = asyncio.create_task(_progress(daemon, len(names)))
    policed = asyncio.create_task(_until_policed(daemon, len(names), time.monotonic()))
    try:
        await daemon.start()
    finally:
        progress.cancel()
    deadline = time.monotonic() + READY_S
    while not _all_enforcing(daemon, len(names)):
        if time.monotonic() > deadline:
            raise TimeoutError("the accounts did not all reconcile")
        await _sleep(0.05)
    return RunningFleet(daemon, await policed)


async def _until_policed(daemon: Daemon, n: int, t0: float) -> float:
    """Seconds until every account's engine runs (restored state policed, docs/operations.md
    "Before its first reconcile"), whether or not its snapshot has had its turn yet."""
    while True:
        sups = list(daemon.fleet.starting.values()) + list(daemon.fleet.by_name.values())
        if sum(1 for s in sups if s.engine is not None) >= n:
            return time.monotonic() - t0
        await asyncio.sleep(0.05)


def _all_enforcing(daemon: Daemon, n: int) -> bool:
    accounts = daemon.accounts
    return len(accounts) == n and all(s.reconciler.reconciled for s in accounts.values())


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def _progress(daemon: Daemon, n: int) -> None:
    """How far the start is, every 10 s on stderr (200 accounts take a while)."""
    t0 = time.monotonic()
    while True:
        await asyncio.sleep(10)
        started = len(daemon.fleet.by_name)
        print(f"   start: {started}/{n} accounts after {time.monotonic() - t0:.0f} s",
              file=sys.stderr, flush=True)  # fmt: skip


def _dump_tasks_on_sigusr1() -> None:
    """`kill -USR1 PID`: every task's stack on stderr (a start that hangs says where)."""
    import signal

    loop = asyncio.get_running_loop()

    def dump() -> None:
        for task in asyncio.all_tasks(loop):
            task.print_stack(limit=12, file=sys.stderr)

    loop.add_signal_handler(signal.SIGUSR1, dump)
