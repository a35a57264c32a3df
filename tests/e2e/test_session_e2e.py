"""Days-long sessions through the real SDK: a daemon runs through two token lifetimes
(3 s here instead of the gateway's 24 h) while the account trades, and keeps receiving
user events and enforcing; a GatewayLogout is followed by a new login and a reconcile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2ekit import RULES, TapStore, wait_until

from rmdsl.daemon import Daemon
from rmdsl.demo.sim import SimAccount
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset

pytestmark = pytest.mark.e2e
LIFETIME_S = 3.0
RUN_S = 7.0  # past two lifetimes


@pytest.fixture
async def session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[SimAccount, Daemon]]:
    # the gateway closes a hub whose token expired: only a renewal in time keeps it up
    sim = SimAccount(load_ruleset(RULES), token_lifetime_s=LIFETIME_S, close_hubs_at_expiry=True)
    await sim.start()
    for name, value in sim.env().items():
        monkeypatch.setenv(name, value)
    # reconnect_after_s stays 10 s: a hub lost at expiry would leave the breaches unseen
    broker = sim.broker(renew_token_before_s=1.0, watch_interval_s=0.1)
    daemon = Daemon(
        RULES, broker, TapStore(tmp_path / "s.db"), CollectingNotifier(), clock=sim.now, tick_s=0.05
    )
    await daemon.start()
    try:
        yield sim, daemon
    finally:
        await daemon.stop()
        await sim.stop()


def gateway_trade_ids(sim: SimAccount) -> set[int]:
    return {
        int(t["id"])
        for t in sim.gw.market.ledger.trades_between(sim.gw.account_id, None, None, None)
    }


async def test_a_daemon_keeps_its_hubs_and_enforces_through_two_token_lifetimes(
    session: tuple[SimAccount, Daemon],
) -> None:
    sim, daemon = session
    engine, gw = daemon.engine, sim.gw
    assert engine is not None
    gw.trader_place("MNQ", "buy", "market", 2)  # at the limit (max_mnq 2)
    breaches = 0
    started = time.monotonic()
    while time.monotonic() - started < RUN_S:
        gw.trader_place("MNQ", "buy", "market", 1)  # over the limit: reduced back to 2
        breaches += 1
        await wait_until(lambda: gw.position_size("MNQ") == 2, what="MNQ reduced to 2")
        await asyncio.sleep(0.6)
    await wait_until(lambda: set(engine.state.trades) == gateway_trade_ids(sim), what="all fills")
    store = daemon.store
    assert isinstance(store, TapStore)
    reductions = [r for r in store.recorded if r.rule_name == "mnq_contracts" and r.outcome == "ok"]
    assert len(reductions) >= breaches
    assert len(daemon.reconcile_ms) >= 3  # the start and one per renewal (at ~2 s, ~4 s, ~6 s)
    assert gw.closed_at_expiry == 0  # renewed in time: no hub ever ran on an expired token
    # the hubs are on a live token, subscribed, and the stream still works
    user_hubs = [c for c in gw.hubs.connections if c.hub == "user"]
    assert user_hubs and all(gw.tokens.ok(c.token) for c in user_hubs)
    assert any(c.topics for c in user_hubs)
    gw.trader_place("MNQ", "sell", "market", 2)
    await wait_until(lambda: engine.state.positions.get(_mnq(sim)) is None, what="the flat fill")


async def test_gateway_logout_is_followed_by_a_login_and_a_reconcile(
    session: tuple[SimAccount, Daemon],
) -> None:
    sim, daemon = session
    engine, gw = daemon.engine, sim.gw
    assert engine is not None
    reconciles = len(daemon.reconcile_ms)
    await gw.gateway_logout()  # the tokens are revoked and the hubs closed
    gw.trader_place("MNQ", "buy", "market", 3)  # while no hub is up: only the reconcile sees it
    await wait_until(lambda: len(daemon.reconcile_ms) > reconciles, what="the reconcile")
    await wait_until(lambda: gw.position_size("MNQ") == 2, what="MNQ reduced to 2")
    assert any(gw.tokens.ok(c.token) for c in gw.hubs.connections if c.hub == "user")


def _mnq(sim: SimAccount) -> str:
    return sim.gw.market.resolve_contract("MNQ").contract_id
