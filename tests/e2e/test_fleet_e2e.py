"""Many accounts in one daemon through the real SDK: one login, one user-hub connection, a
breach enforced on its own account only while the others trade on (docs/operations.md,
"Many accounts")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from e2ekit import RULES, TapStore, wait_until

from rmdsl.accounts import AccountEntry
from rmdsl.broker.simgateway import SimGateway
from rmdsl.daemon import Daemon
from rmdsl.demo.sim import SimAccount
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset

pytestmark = pytest.mark.e2e
BALANCE = Decimal("50000")
NAMES = ("PRAC-SIM-1", "PRAC-SIM-2", "PRAC-SIM-3")
OUTSIDER = "OTHER-SIM-9"  # the login's, not named by the config
CLOSES = ("/Position/closeContract", "/Position/partialCloseContract")


@pytest.fixture
async def fleet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[SimAccount, Daemon, TapStore]]:
    accounts = [(n, BALANCE) for n in (*NAMES, OUTSIDER)]
    sim = SimAccount(load_ruleset(RULES), accounts=accounts)
    await sim.start()
    for name, value in sim.env().items():
        monkeypatch.setenv(name, value)
    store = TapStore(tmp_path / "state.db")
    daemon = Daemon.for_accounts(
        [AccountEntry("prac-sim-*", RULES)],  # a glob, matched without regard to case
        sim.login(),
        store,
        CollectingNotifier(),
        clock=sim.now,
        tick_s=0.05,
        reload=False,
        lock_dir=tmp_path / "locks",
    )
    try:
        await daemon.start()
        yield sim, daemon, store
    finally:
        await daemon.stop()
        await sim.stop()


def closes_of(gw: SimGateway, account_id: int) -> int:
    return sum(1 for p in CLOSES for r in gw.requests.calls(p) if r.body["accountId"] == account_id)


def ids(gw: SimGateway) -> dict[str, int]:
    return {a.name: a.id for a in gw.market.iter_accounts()}


async def test_one_login_and_one_hub_connection_supervise_the_globbed_accounts(
    fleet: tuple[SimAccount, Daemon, TapStore],
) -> None:
    sim, daemon, _ = fleet
    by_name = ids(sim.gw)
    assert {s.name for s in daemon.accounts.values()} == set(NAMES)
    assert set(daemon.accounts) == {by_name[n] for n in NAMES}
    assert len(sim.gw.requests.calls("/Auth/loginKey")) == 1
    user_hubs = [c for c in sim.gw.hubs.connections if c.hub == "user"]
    assert len(user_hubs) == 1
    subscribed = {key for target, key in user_hubs[0].topics if target == "GatewayUserTrade"}
    assert subscribed == {by_name[n] for n in NAMES}  # the outsider is not subscribed
    engines = {s.engine for s in daemon.accounts.values()}
    assert len(engines) == 3 and all(e is not None and e.state.account_id for e in engines)


async def test_a_breach_is_enforced_on_its_account_only_while_the_others_trade_on(
    fleet: tuple[SimAccount, Daemon, TapStore],
) -> None:
    sim, daemon, store = fleet
    gw, by_name = sim.gw, ids(sim.gw)
    one, two, three = (by_name[n] for n in NAMES)
    for account in (one, two, three):
        gw.trader_place("MNQ", "buy", "market", 1, account=account)
    for account in (one, two, three):
        engine = daemon.accounts[account].engine
        assert engine is not None
        await wait_until(lambda e=engine: bool(e.state.positions), what="each account's MNQ")
    # account two loses the day: a 1 ES round trip beyond the $1000 daily limit
    gw.trader_place("ES", "buy", "market", 1, account=two)
    gw.trader_place("ES", "sell", "stop", 1, stop_price=5979, account=two)
    gw.set_quote("ES", 5979)  # one market: every account sees the quote
    await wait_until(lambda: gw.position_size("MNQ", account=two) == 0, what="two flattened")
    await wait_until(lambda: any(r.account_id == two for r in store.recorded), what="records")
    records = [r for r in store.recorded if r.rule_name == "daily_realized_loss"]
    assert records and {r.account_id for r in records} == {two}
    assert any(r.action.startswith("lockout") for r in store.recorded if r.account_id == two)
    engine_two = daemon.accounts[two].engine
    assert engine_two is not None and engine_two.lockouts.account_locked
    # the others trade on: their fills go through and nothing is closed for them
    for account in (one, three):
        gw.trader_place("MNQ", "buy", "market", 1, account=account)
    for account in (one, three):
        engine = daemon.accounts[account].engine
        assert engine is not None
        await wait_until(
            lambda e=engine: sum(abs(p.size) for p in e.state.positions.values()) == 2,
            what="the second MNQ fill on the account's engine",
        )
        assert gw.position_size("MNQ", account=account) == 2
        assert closes_of(gw, account) == 0
        assert not any(r.account_id == account for r in store.recorded)
    # two is locked out: a new position there is closed, and only there
    before = closes_of(gw, two)
    gw.trader_place("MNQ", "buy", "market", 1, account=two)
    await wait_until(lambda: closes_of(gw, two) > before, what="the lockout's close on two")
    assert closes_of(gw, one) == closes_of(gw, three) == 0


async def test_the_outsiders_events_are_dropped_and_counted_never_routed(
    fleet: tuple[SimAccount, Daemon, TapStore],
) -> None:
    sim, daemon, _ = fleet
    gw = sim.gw
    live = daemon.primary.broker.live  # type: ignore[union-attr]
    before = live.routes.unrouted
    gw.trader_place("MNQ", "buy", "market", 3, account=OUTSIDER)  # SubscribeAccounts streams it
    gw.set_can_trade(False, account=OUTSIDER)
    await wait_until(lambda: live.routes.unrouted > before, what="the outsider's account update")
    assert daemon.unrouted == live.routes.unrouted
    outsider = ids(gw)[OUTSIDER]
    for sup in daemon.accounts.values():
        assert sup.engine is not None
        assert sup.engine.state.ctx.account.can_trade is not False
        assert all(p.account_id != outsider for p in sup.engine.state.positions.values())
    assert closes_of(gw, outsider) == 0
