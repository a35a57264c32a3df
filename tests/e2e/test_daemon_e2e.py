"""Daemon assembly through the real SDK: hot reload, start failures, clean shutdown, clock ticks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from e2ekit import RULES, StartDaemon, TapStore, wait_until

from rmdsl.daemon import Daemon
from rmdsl.demo.sim import SimAccount
from rmdsl.errors import BrokerError
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset
from rmdsl.store import SqliteStore

pytestmark = pytest.mark.e2e


def child(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(f"rmdsl: 1\nname: mine\nextends: {RULES}\n{body}", encoding="utf-8")
    return path


async def test_hot_reload_swaps_a_valid_ruleset_and_keeps_an_invalid_one_out(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    path = child(tmp_path, "params:\n  max_mnq: 2\n")
    live = await start_daemon(path, reload=True)
    daemon = live.daemon
    engine = daemon.engine
    assert engine is not None and daemon.watcher is not None
    await asyncio.wait_for(daemon.watcher.ready.wait(), 5)
    first = engine.ruleset.digest
    path.write_text(path.read_text().replace("max_mnq: 2", "max_mnq: 1"), encoding="utf-8")
    await wait_until(lambda: engine.ruleset.digest != first, 10, "the reload")
    assert engine.state.ctx.params["max_mnq"] == 1  # tightened: applies at once
    await wait_until(lambda: "ruleset reloaded" in live.notifier.titles(), what="its alert")
    reloaded = next(a for a in live.notifier.alerts if a.title == "ruleset reloaded")
    local = live.sim.now().astimezone(engine.ruleset.timezone)
    assert f"now enforcing mine ({engine.ruleset.digest[:12]})" in reloaded.body
    assert f" {local.tzname()}" in reloaded.body  # at 09:00:03 CST: the ruleset's clock
    swapped = engine.ruleset.digest
    path.write_text(path.read_text() + "rules:\n  nope:\n    when: day.nonsense > 1\n")
    await wait_until(lambda: "ruleset reload refused" in live.notifier.titles(), 10, "the refusal")
    refused = next(a for a in live.notifier.alerts if a.title == "ruleset reload refused")
    assert refused.body.startswith("at ") and "the running ruleset stays active" in refused.body
    assert f" {local.tzname()} " in refused.body  # the refusal's time names the zone too
    assert "day.nonsense" in refused.body and "error[RM" in refused.body  # check's errors
    assert engine.ruleset.digest == swapped
    live.gw.trader_place("MNQ", "buy", "market", 2)  # 2 > 1: the reloaded limit is enforced
    await wait_until(lambda: live.gw.position_size("MNQ") == 1, what="MNQ reduced to 1")
    await daemon.stop()
    async with SqliteStore(live.store_path, readonly=True) as store:
        statuses = [v.status for v in await store.ruleset_versions()]
    assert statuses.count("active") == 2 and statuses.count("rejected") >= 1


async def test_unknown_account_fails_start_and_releases_everything(tmp_path: Path) -> None:
    ruleset = load_ruleset(RULES)
    async with SimAccount(ruleset) as sim:
        store = TapStore(tmp_path / "s.db")
        daemon = Daemon(RULES, sim.broker("NO-SUCH-ACCOUNT"), store, CollectingNotifier())
        before = asyncio.all_tasks()
        with pytest.raises(BrokerError, match="NO-SUCH-ACCOUNT"):
            await daemon.start()
        assert not store.is_open
        assert daemon.engine is None
        leaked = {t for t in asyncio.all_tasks() - before if not t.done()}
        assert not leaked


async def test_stop_leaves_no_task_and_saves_the_day(start_daemon: StartDaemon) -> None:
    live = await start_daemon()
    engine = live.daemon.engine
    assert engine is not None
    before = engine.state.now
    await wait_until(lambda: engine.state.now > before, what="a clock tick")
    live.gw.trader_place("MNQ", "buy", "market", 1)
    live.gw.trader_place("MNQ", "sell", "market", 1)
    await wait_until(lambda: engine.state.ctx.day.trades == 1, what="the round trip")
    await live.daemon.stop()
    await asyncio.sleep(0)
    names = {t.get_name() for t in asyncio.all_tasks() if not t.done()}
    assert not {n for n in names if n.startswith(("rmdsl-", "reload:"))}
    async with SqliteStore(live.store_path, readonly=True) as store:
        day = await store.account_state(engine.state.account_id)
        assert day is not None and day.trades == 1
        assert await store.metric_names(), "the last metric summaries were written at stop"
