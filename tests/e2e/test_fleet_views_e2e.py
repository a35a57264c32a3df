"""A daemon of three accounts as an operator sees it: /metrics labelled per account with the
fleet's totals, the page's fleet table and one account's snapshot, alerts naming the
account, `rmdsl status` a line per account (docs/operations.md, "Many daemons")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from e2ekit import RULES, TapStore, wait_until

from rmdsl.accounts import AccountEntry
from rmdsl.commands.fleet_status import fleet_status
from rmdsl.daemon import Daemon
from rmdsl.dashboard import DashboardOptions
from rmdsl.demo.sim import SimAccount
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset
from rmdsl.store import SqliteStore

pytestmark = pytest.mark.e2e
NAMES = ("DESK-A", "DESK-B", "DESK-C")


@pytest.fixture
async def fleet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[SimAccount, Daemon, CollectingNotifier]]:
    sim = SimAccount(load_ruleset(RULES), accounts=[(n, Decimal(50_000)) for n in NAMES])
    await sim.start()
    for name, value in sim.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RMDSL_LOCK_DIR", str(tmp_path / "locks"))  # `status` probes the locks
    notifier = CollectingNotifier()
    daemon = Daemon.for_accounts(
        [AccountEntry("desk-*", RULES)],
        sim.login(),
        TapStore(tmp_path / "state.db"),
        notifier,
        clock=sim.now,
        tick_s=0.05,
        reload=False,
        lock_dir=tmp_path / "locks",
        dashboard=DashboardOptions(port=0, interval_ms=50),
    )
    try:
        await daemon.start()
        yield sim, daemon, notifier
    finally:
        await daemon.stop()
        await sim.stop()


def by_name(daemon: Daemon) -> dict[str, int]:
    return {s.name: aid for aid, s in daemon.accounts.items()}


async def breach_b(sim: SimAccount, daemon: Daemon) -> None:
    """3 MNQ on DESK-B (the e2e ruleset allows 2): reduced there only."""
    sim.gw.trader_place("MNQ", "buy", "market", 3, account="DESK-B")
    sim.gw.trader_place("MNQ", "buy", "market", 1, account="DESK-C")  # within its limit
    b = daemon.accounts[by_name(daemon)["DESK-B"]]
    await wait_until(lambda: bool(b.feed.records), what="DESK-B's reduce recorded")


async def get(daemon: Daemon, path: str, account: str | None = None) -> httpx.Response:
    """GET a path of the daemon's page (`?account=` when given)."""
    assert daemon.dashboard is not None
    params = {"account": account} if account else {}
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(daemon.dashboard.url + path, params=params)


async def test_metrics_label_each_account_and_sum_the_fleet(
    fleet: tuple[SimAccount, Daemon, CollectingNotifier],
) -> None:
    sim, daemon, _ = fleet
    await breach_b(sim, daemon)
    text = (await get(daemon, "metrics")).text
    ids = by_name(daemon)
    for name in NAMES:
        assert f'rmdsl_account_info{{account="{name}",account_id="{ids[name]}"' in text
        assert f'rmdsl_reconciled{{account="{name}"}} 1.0' in text
    reduced = 'account="DESK-B",outcome="ok",rule="mnq_contracts"'
    assert f"rmdsl_enforcements_total{{{reduced}}} 1.0" in text
    assert 'account="DESK-C",outcome="ok"' not in text and 'account="DESK-A",outcome' not in text
    assert "rmdsl_fleet_accounts 3.0" in text and "rmdsl_fleet_accounts_reconciled 3.0" in text
    assert 'rmdsl_fleet_enforcements_total{outcome="ok"} 1.0' in text


async def test_the_page_lists_the_accounts_and_shows_the_one_asked_for(
    fleet: tuple[SimAccount, Daemon, CollectingNotifier],
) -> None:
    sim, daemon, _ = fleet
    await breach_b(sim, daemon)
    first = (await get(daemon, "api/state")).json()
    b = (await get(daemon, "api/state", account="DESK-B")).json()
    health = (await get(daemon, "healthz")).json()
    assert [row["name"] for row in first["accounts"]] == list(NAMES)
    assert first["account"]["name"] == "DESK-A" and first["history"] == []
    assert b["account"]["name"] == "DESK-B"
    assert [r["rule"] for r in b["history"]] == ["mnq_contracts"]
    [row_b] = [row for row in b["accounts"] if row["name"] == "DESK-B"]
    assert row_b["reconciled"] is True and row_b["positions"] == 1
    assert health["accounts"] == 3 and health["reconciled"] is True


async def test_alerts_name_their_account_and_status_shows_every_account(
    fleet: tuple[SimAccount, Daemon, CollectingNotifier],
) -> None:
    sim, daemon, notifier = fleet
    await breach_b(sim, daemon)
    await wait_until(lambda: "[DESK-B] enforced" in notifier.titles(), what="B's alert")
    enforced = [a for a in notifier.alerts if a.title.endswith("enforced")]
    assert {a.fields["account"] for a in enforced} == {"DESK-B"}
    store = daemon.store
    assert isinstance(store, SqliteStore)
    async with SqliteStore(store.path, readonly=True) as reader:
        data = await fleet_status(reader, sim.now())
    assert data is not None
    assert [a["name"] for a in data["accounts"]] == list(NAMES)
    assert all(a["daemon"]["running"] for a in data["accounts"])
    assert data["fleet"]["running"] == 3
