"""Many accounts starting under a small request budget through the real SDK: every account
reconciles, each snapshot read is sent once (a read waiting its turn is not timed out and
sent again), no 429, one account list for all (docs/broker.md, "Many accounts: start-up")."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from e2ekit import RULES, wait_until

from rmdsl.accounts import AccountEntry
from rmdsl.broker.projectx_fleet import ProjectXLogin
from rmdsl.broker.projectx_rate import Budget
from rmdsl.daemon import Daemon
from rmdsl.demo.sim import SimAccount
from rmdsl.engine.core import Engine
from rmdsl.engine.persistence import LockoutRecord, UntilKindRecord
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset
from rmdsl.store.sqlite import SqliteStore

pytestmark = pytest.mark.e2e
NAMES = tuple(f"PRAC-SIM-{i}" for i in range(1, 7))
# 6 accounts x 3 reads + the account list + MNQ's contract: 3 windows of 8 reads, so reads
# wait ~2 s for their turn, longer than their 1 s call timeout
LIMIT, WINDOW_S, RESERVE = 10, 1.0, 2
READS = ("/Position/searchOpen", "/Order/searchOpen", "/Trade/search")


@pytest.fixture
async def sim(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimAccount]:
    sim = SimAccount(load_ruleset(RULES), accounts=[(n, Decimal(50_000)) for n in NAMES])
    await sim.start()
    for name, value in sim.env().items():
        monkeypatch.setenv(name, value)
    try:
        yield sim
    finally:
        await sim.stop()


async def test_accounts_start_under_a_small_budget_each_read_sent_once(
    sim: SimAccount, tmp_path: Path
) -> None:
    gw = sim.gw
    for name in NAMES[:3]:  # three accounts start with an MNQ order: one contract lookup
        gw.trader_place("MNQ", "buy", "limit", 1, limit_price="15000", account=name)
    login, daemon = fleet(sim, tmp_path, "PRAC-SIM-*", Budget(LIMIT, WINDOW_S, RESERVE))
    try:
        await daemon.start()  # returns once every account has reconciled
        assert daemon.reconciled and len(daemon.accounts) == len(NAMES)
        for sup in daemon.accounts.values():
            assert sup.reconciler.reconcile_ms and sup.engine is not None
        assert login.gate.waited > 0  # the budget did hold reads back
        assert gw.limits.refused == 0 and login.gate.refused == 0
        for path in READS:  # once per account: no read timed out in the queue and re-sent
            sent = sorted(r.body["accountId"] for r in gw.requests.calls(path))
            assert sent == sorted(daemon.accounts), path
        # rmdsl's one list serves the names, the connects and the snapshots; the SDK's login
        # reads the list once itself
        assert login.listed == 1 and len(gw.requests.calls("/Account/search")) == 2
        assert login.contracts.fetched == 1
    finally:
        await daemon.stop()


async def test_a_restored_lockout_is_enforced_long_before_the_accounts_snapshot_turn(
    sim: SimAccount, tmp_path: Path
) -> None:
    """docs/operations.md, "Before its first reconcile": the lockout in the state database is
    policed from the moment the engine is restored, while the snapshot waits its turn."""
    gw, target = sim.gw, NAMES[1]
    account_id = next(a.id for a in gw.market.iter_accounts() if a.name == target)
    now = sim.now()
    async with SqliteStore(tmp_path / "state.db") as store:
        await store.add_lockout(
            LockoutRecord(
                "lk-restored",
                account_id,
                None,
                "daily_realized_loss",
                now + dt.timedelta(hours=2),
                UntilKindRecord.DURATION,
                now - dt.timedelta(minutes=5),
            )
        )
    # 3 reads a window, the account list takes one of the first: no snapshot's 3 reads get
    # their turn before the window has passed (1 s and its slack)
    login, daemon = fleet(sim, tmp_path, "PRAC-SIM-[1-2]", Budget(4, 1.0, 1))
    start = asyncio.create_task(daemon.start())
    try:
        await wait_until(lambda: _engine_of(daemon, target) is not None, what="the engine")
        began = time.monotonic()
        gw.trader_place("MNQ", "buy", "market", 1, account=target)
        await wait_until(lambda: gw.position_size("MNQ", account=target) == 0, what="closed")
        closed_s = time.monotonic() - began
        sup = daemon.fleet.starting[target]
        assert not sup.reconciler.reconciled and login.gate.queued > 0  # its turn: later
        assert closed_s < 1.0, closed_s
        assert gw.limits.refused == 0  # the close went within the budget's enforcement share
    finally:
        start.cancel()
        await asyncio.gather(start, return_exceptions=True)
        await daemon.stop()


def fleet(
    sim: SimAccount, tmp_path: Path, accounts: str, budget: Budget
) -> tuple[ProjectXLogin, Daemon]:
    """A login and its daemon over the sim's `accounts`, the gateway's budget as the login's."""
    sim.gw.limits.set(budget.limit, budget.window_s)
    login = sim.login(budget=budget, call_timeout_s=1.0)
    daemon = Daemon.for_accounts(
        [AccountEntry(accounts, RULES)],
        login,
        SqliteStore(tmp_path / "state.db"),
        CollectingNotifier(),
        clock=sim.now,
        reload=False,
        lock_dir=tmp_path / "locks",
    )
    return login, daemon


def _engine_of(daemon: Daemon, name: str) -> Engine | None:
    sup = daemon.fleet.starting.get(name)
    return sup.engine if sup is not None else None
