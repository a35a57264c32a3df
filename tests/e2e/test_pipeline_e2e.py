"""The whole pipeline through the real SDK: gateway fill -> engine -> REST close -> gateway."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from e2ekit import Live, StartDaemon, short_grace_ruleset, wait_until

from rmdsl.engine.persistence import Outcome
from rmdsl.store import SqliteStore

pytestmark = pytest.mark.e2e
CLOSES = ("/Position/closeContract", "/Position/partialCloseContract")


async def lose_the_day(live: Live) -> None:
    """A 1 ES round trip that loses more than the $1000 daily limit (-$1050 and fees)."""
    gw = live.gw
    gw.trader_place("ES", "buy", "market", 1)
    gw.trader_place("ES", "sell", "stop", 1, stop_price=5979)  # protected: no grace timer
    gw.set_quote("ES", 5979)  # the stop fills here
    await wait_until(lambda: gw.position_size("ES") == 0, what="the ES stop to fill")


async def test_breaking_fill_is_flattened_through_rest(start_daemon: StartDaemon) -> None:
    live = await start_daemon()
    gw = live.gw
    gw.trader_place("MNQ", "buy", "market", 2)
    await wait_until(lambda: live.daemon.engine is not None and live.daemon.engine.state.positions)
    await lose_the_day(live)
    rec = await live.wait_for_record("daily_realized_loss")
    await wait_until(lambda: gw.position_size("MNQ") == 0, what="the flatten of MNQ")
    assert gw.requests.calls("/Position/closeContract"), "the close went through the REST API"
    assert rec.values["day.realized_pnl"].startswith("-")
    assert any(r.action.startswith("lockout") for r in live.history())


async def test_position_opened_during_lockout_is_closed(start_daemon: StartDaemon) -> None:
    live = await start_daemon()
    gw = live.gw
    await lose_the_day(live)
    await live.wait_for_record("daily_realized_loss")
    closes_before = len(gw.requests.calls("/Position/closeContract"))
    gw.trader_place("MNQ", "buy", "market", 1)
    await wait_until(
        lambda: len(gw.requests.calls("/Position/closeContract")) > closes_before,
        what="a close of the position opened during the lockout",
    )
    await wait_until(lambda: gw.position_size("MNQ") == 0, what="MNQ flat")


async def test_stop_in_time_cancels_the_grace_timer(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    live = await start_daemon(short_grace_ruleset(tmp_path, "1s"))
    gw, engine = live.gw, live.daemon.engine
    assert engine is not None
    gw.trader_place("MNQ", "buy", "market", 1)
    await wait_until(lambda: bool(engine.evaluator.timers.running), what="the grace timer")
    gw.trader_place("MNQ", "sell", "stop", 1, stop_price=20990)
    await wait_until(lambda: not engine.evaluator.timers.running, what="the timer cancelled")
    unprotected = "CON.F.US.MES.Z25"
    gw.trader_place("MES", "buy", "market", 1)  # the control: no stop, closed after 1 s
    await live.wait_for_record("no_stop_loss_grace", timeout=5)
    assert gw.position_size("MNQ") == 1
    assert gw.position_size("MES") == 0
    assert [r.target for r in live.history() if r.rule_name == "no_stop_loss_grace"] == [
        unprotected
    ]


async def test_failed_close_is_recorded_and_enforcement_goes_on(
    start_daemon: StartDaemon,
) -> None:
    live = await start_daemon()
    gw = live.gw
    gw.reject_close(count=1)
    gw.trader_place("MNQ", "buy", "market", 4)  # 4 > max_mnq 2: reduce, which the gateway refuses
    failed = await live.wait_for_record("mnq_contracts", outcome=Outcome.FAILED)
    assert failed.error
    assert "enforcement failed" in live.notifier.titles()
    # retried: a failed partial close becomes a close (docs/engine.md, "Enforcement and failures")
    await wait_until(lambda: gw.position_size("MNQ") == 0, what="MNQ closed by the retry")
    gw.trader_place("ES", "buy", "market", 3)  # 3 > max_es 1: this reduce goes through
    await wait_until(lambda: gw.position_size("ES") == 1, what="ES reduced to 1")
    await live.daemon.stop()
    async with SqliteStore(live.store_path, readonly=True) as store:
        rows = [(r.target, r.outcome) for r in await store.recent_enforcements()]
    assert ("CON.F.US.MNQ.Z25", Outcome.FAILED) in rows
    assert ("CON.F.US.EP.Z25", Outcome.OK) in rows


async def test_reconnect_reconciles_without_double_counting(start_daemon: StartDaemon) -> None:
    live = await start_daemon()
    gw, daemon = live.gw, live.daemon
    engine = daemon.engine
    assert engine is not None
    gw.trader_place("MNQ", "buy", "market", 1)
    gw.set_quote("MNQ", 20990)
    gw.trader_place("MNQ", "sell", "market", 1)  # -$20 and fees, realized
    await wait_until(lambda: engine.state.ctx.day.trades == 1, what="the round trip")
    realized = engine.state.ctx.day.realized_pnl
    assert realized < Decimal(-20)
    await gw.drop_connections()
    await wait_until(lambda: len(daemon.reconcile_ms) == 2, timeout=15, what="the reconcile")
    assert engine.evaluating
    assert engine.state.ctx.day.realized_pnl == realized
    assert engine.state.ctx.day.trades == 1
    assert gw.requests.calls("/Trade/search")[-1:], "today's trades came from the REST API"
    gw.trader_place("ES", "buy", "market", 2)  # and enforcement works after the reconnect
    await live.wait_for_record("es_contracts", outcome=Outcome.OK)


async def test_reentry_right_after_a_lockout_close_is_closed_again(
    start_daemon: StartDaemon,
) -> None:
    """Regression: the SDK's close returns ~100 ms after the gateway reported the position flat;
    a re-entry in that contract was then skipped as "close already sent" for 2 s."""
    live = await start_daemon()
    gw = live.gw
    await lose_the_day(live)
    await live.wait_for_record("daily_realized_loss")
    for attempt in range(1, 4):
        gw.trader_place("MNQ", "buy", "market", 1)
        await wait_until(
            lambda n=attempt: len(gw.requests.calls("/Position/closeContract")) >= n,
            what=f"the close of re-entry {attempt}",
        )
        await wait_until(lambda: gw.position_size("MNQ") == 0, what="MNQ flat")

    def closes() -> list[Outcome]:
        return [r.outcome for r in live.history() if r.target == "CON.F.US.MNQ.Z25"]

    await wait_until(lambda: len(closes()) == 3, what="the three records")
    assert closes() == [Outcome.OK] * 3
