"""Reconcile after every reconnect, retried until it succeeds, and catch-up on what was missed.

Through the real SDK on the simulated gateway: a frozen gateway (no pong, no
push, no REST answer), the SDK's silent health reconnect, a failing first
snapshot, and a position opened without a stop while the daemon was down.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from e2ekit import RULES, Live, StartDaemon, TapStore, wait_until

from rmdsl.broker.projectx import ProjectXBroker
from rmdsl.broker.projectx_settings import default_day_start
from rmdsl.broker.simgateway import SimGateway
from rmdsl.daemon import Daemon
from rmdsl.demo.sim import SimAccount
from rmdsl.engine.core import Engine
from rmdsl.engine.tradingday import Calendar
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset

pytestmark = pytest.mark.e2e

# the watchdog on short bounds: a hub unanswered for 0.5 s is stale
FAST = {"watch_interval_s": 0.1, "stale_after_s": 0.5}


def cooldown_ruleset(tmp_path: Path, grace: str = "2m") -> Path:
    path = tmp_path / "cooldown.yaml"
    path.write_text(
        f"rmdsl: 1\nname: e2e-cooldown\nextends: {RULES}\nrules:\n"
        "  loss_cooldown:\n    scope: trade\n"
        "    when: trade.is_close and trade.pnl < $0\n    do: [cooldown(30m)]\n"
        f"  no_stop_loss_grace:\n    grace: {grace}\n",
        encoding="utf-8",
    )
    return path


def engine_of(live: Live) -> Engine:
    engine = live.daemon.engine
    assert engine is not None
    return engine


def cooldowns(live: Live) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
    return [
        (lk.rule_id, lk.created_at, lk.until_ts)
        for lk in engine_of(live).lockouts.active.values()
        if lk.rule_id == "loss_cooldown"
    ]


async def test_a_reconnect_after_a_frozen_gateway_reconciles_the_missed_loss(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    live = await start_daemon(cooldown_ruleset(tmp_path), broker=FAST)
    gw, daemon = live.gw, live.daemon
    assert daemon.reconciled and daemon.unreconciled_since is None
    live.gw.freeze(2.0)  # its pushes meanwhile are lost
    await wait_until(lambda: not daemon.reconciled, what="the stale hub noticed")
    gw.trader_place("MNQ", "buy", "market", 1)
    gw.set_quote("MNQ", 20990)
    gw.trader_place("MNQ", "sell", "market", 1)
    sold_at = gw.market.ledger.trades[-1].at
    await wait_until(lambda: len(daemon.reconcile_ms) == 2, timeout=10, what="the reconcile")
    assert daemon.reconciled and engine_of(live).evaluating
    assert engine_of(live).state.ctx.day.trades == 1
    assert cooldowns(live) == [("loss_cooldown", sold_at, sold_at + dt.timedelta(minutes=30))]
    await live.wait_for_record("loss_cooldown")


async def test_the_sdk_health_reconnect_without_a_close_is_reconciled(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """The SDK's force_health_reconnect stops the hub with no close callback."""
    live = await start_daemon(cooldown_ruleset(tmp_path), broker={"watch_interval_s": 30.0})
    gw, daemon = live.gw, live.daemon
    feed = daemon.broker.live  # type: ignore[attr-defined]
    rt = feed._rt
    gw.trader_place("MNQ", "buy", "market", 1)
    await wait_until(lambda: bool(engine_of(live).state.positions), what="the MNQ position")
    await rt.disconnect()  # force_health_reconnect: disconnect, wait, then connect()
    await wait_until(lambda: not rt._hub_transport_running(), what="the hubs stopped")
    gw.set_quote("MNQ", 20990)
    gw.trader_place("MNQ", "sell", "market", 1)  # nobody is connected: the push is lost
    sold_at = gw.market.ledger.trades[-1].at
    await rt.connect()  # may say False (its ready events were still set): the hubs open anyway
    await wait_until(lambda: len(daemon.reconcile_ms) == 2, timeout=10, what="the reconcile")
    assert cooldowns(live) == [("loss_cooldown", sold_at, sold_at + dt.timedelta(minutes=30))]


async def test_a_failed_first_snapshot_is_retried_and_the_missed_cooldown_starts(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    live = await start_daemon(
        cooldown_ruleset(tmp_path), broker=FAST, retry_s=(0.05, 0.2), unreconciled_alert_s=0.3
    )
    gw, daemon = live.gw, live.daemon
    gw.trader_place("MNQ", "buy", "market", 1)
    await wait_until(lambda: bool(engine_of(live).state.positions), what="the MNQ position")
    searches = len(gw.requests.calls("/Trade/search"))
    gw.freeze(1.0)
    await wait_until(lambda: not daemon.reconciled, what="the stale hub noticed")
    gw.inject_error("/Trade/search", count=6)  # the reconnect's first snapshots fail
    gw.set_quote("MNQ", 20990)
    gw.trader_place("MNQ", "sell", "market", 1)  # its push is lost in the freeze
    sold_at = gw.market.ledger.trades[-1].at
    await wait_until(lambda: "not reconciled" in live.notifier.titles(), what="the alert")
    await wait_until(lambda: daemon.reconciled, timeout=10, what="the retried reconcile")
    assert len(gw.requests.calls("/Trade/search")) == searches + 7  # 6 failed, then one
    assert engine_of(live).state.ctx.day.trades == 1
    assert cooldowns(live) == [("loss_cooldown", sold_at, sold_at + dt.timedelta(minutes=30))]
    await live.wait_for_record("loss_cooldown")


async def test_a_position_left_unprotected_while_down_is_closed_right_after_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SimAccount(load_ruleset(RULES)) as sim:  # no_stop_loss_grace: 2m
        for name, value in sim.env().items():
            monkeypatch.setenv(name, value)
        sim.gw.trader_place("MNQ", "buy", "market", 1)  # no stop, and no daemon running
        sim.clock.reset(sim.now() + dt.timedelta(minutes=5))  # 5 minutes later it starts
        store = TapStore(tmp_path / "s.db")
        daemon = Daemon(RULES, sim.broker(), store, CollectingNotifier(), clock=sim.now)
        await daemon.start()
        try:
            await wait_until(lambda: sim.gw.position_size("MNQ") == 0, what="the close")
            await daemon.engine.flush()  # type: ignore[union-attr]  # the record follows the call
            [close] = [r for r in store.recorded if r.rule_name == "no_stop_loss_grace"]
            assert close.action == "close_position" and close.outcome == "ok"
        finally:
            await daemon.stop()


async def test_the_trade_search_covers_the_rulesets_own_trading_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the adapter searched from a fixed 17:00 America/Chicago, whatever the
    ruleset's reset; fills between the ruleset's reset and that hour were never read."""
    tz = ZoneInfo("America/New_York")
    reset = (dt.datetime.now(tz) - dt.timedelta(hours=4)).time().replace(second=0, microsecond=0)
    path = tmp_path / "ny.yaml"
    path.write_text(
        f'rmdsl: 1\nname: ny\ntimezone: America/New_York\nreset: "{reset:%H:%M}"\nrules: {{}}\n',
        encoding="utf-8",
    )
    async with SimGateway() as gw:  # gateway time is wall time
        for name, value in gw.sdk_env().items():
            monkeypatch.setenv(name, value)
        broker = ProjectXBroker(
            "PRAC-SIM-1", api_url=gw.api_url, user_hub_url=gw.user_hub_url,
            market_hub_url=gw.market_hub_url, api_key="k" * 20, username="u",
        )  # fmt: skip
        daemon = Daemon(path, broker, TapStore(tmp_path / "s.db"), CollectingNotifier())
        await daemon.start()
        try:
            now = dt.datetime.now(dt.UTC)
            [search] = gw.requests.calls("/Trade/search")
            since = dt.datetime.fromisoformat(search.body["startTimestamp"])
            expected = Calendar.of(load_ruleset(path)).last_reset(now)
            assert since == expected and since != default_day_start(now)
        finally:
            await daemon.stop()


async def test_a_loss_made_while_the_daemon_was_down_starts_its_cooldown_at_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = cooldown_ruleset(tmp_path)
    async with SimAccount(load_ruleset(path)) as sim:
        for name, value in sim.env().items():
            monkeypatch.setenv(name, value)

        def new_daemon() -> Daemon:
            store = TapStore(tmp_path / "s.db")
            return Daemon(path, sim.broker(), store, CollectingNotifier(), clock=sim.now)

        first = new_daemon()
        await first.start()
        sim.gw.trader_place("MNQ", "buy", "market", 1)
        sim.gw.trader_place("MNQ", "sell", "stop", 1, stop_price=20900)  # protected
        await wait_until(lambda: bool(first.engine and first.engine.state.positions))
        await first.stop()
        sim.gw.set_quote("MNQ", 20990)
        sim.gw.trader_place("MNQ", "sell", "market", 1)  # the loss, while nobody listens
        sold_at = sim.gw.market.ledger.trades[-1].at
        sim.clock.reset(sim.now() + dt.timedelta(minutes=10))
        second = new_daemon()
        await second.start()
        try:
            assert second.engine is not None
            locks = [
                (lk.created_at, lk.until_ts)
                for lk in second.engine.lockouts.active.values()
                if lk.rule_id == "loss_cooldown"
            ]
            assert locks == [(sold_at, sold_at + dt.timedelta(minutes=30))]
            assert second.engine.state.ctx.day.trades == 1
        finally:
            await second.stop()
