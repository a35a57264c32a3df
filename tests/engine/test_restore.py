"""Restart restores lockouts, timers and today's P&L; reconcile merges trades without doubles."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

from enginekit import (
    CHICAGO,
    ES,
    MNQ,
    T0,
    D,
    Harness,
    at,
    clock,
    fill,
    order,
    position,
    rule,
    ruleset,
)

from rmdsl.contract.broker import ContractInfo, Snapshot
from rmdsl.contract.events import (
    AccountEvent,
    ConnectionEvent,
    ConnectionState,
    OrderType,
    Side,
    TradeEvent,
)
from rmdsl.engine import restore
from rmdsl.lang.schema import Trigger, UntilKind
from rmdsl.rules.model import Action

LOCK = rule(
    "daily",
    lambda c: c.day.realized_pnl <= Decimal(-500),
    (Action("lockout", {"until": UntilKind.RESET}),),
    on=(Trigger.FILL, Trigger.TRADE),
)


async def restart(h: Harness, now: dt.datetime) -> Harness:
    """A new engine on the same store, as after a crash."""
    await h.engine.stop()
    return await Harness(h.engine.ruleset, start=now, store=h.store).start()


async def test_restart_restores_lockout_pnl_and_grace_timer() -> None:
    h = await Harness(ruleset(LOCK, grace_ms=60_000)).start()
    await h.feed(fill(1, at(1), -300), fill(2, at(2), -250))
    assert h.engine.lockouts.account_locked
    h2 = await restart(h, at(10))
    assert h2.engine.lockouts.account_locked
    assert h2.engine.ctx.day.realized_pnl == D(-550) and h2.engine.ctx.day.trades == 2
    await h2.feed(fill(2, at(11), -250))  # redelivered after the restart: not counted again
    assert h2.engine.ctx.day.realized_pnl == D(-550)
    await h2.feed(position(at(12), 1))
    assert h2.calls() == ["close_position"]


async def test_restart_restores_a_running_grace_timer_with_its_deadline() -> None:
    h = await Harness(ruleset(grace_ms=60_000)).start()
    await h.feed(position(at(0), 1))
    h2 = await restart(h, at(30))
    assert h2.engine.evaluator.timers.running[f"no_stop_loss_grace|{MNQ}"].deadline == at(60)
    await h2.feed(clock(at(60)))
    assert h2.calls() == ["close_position"]


async def test_restart_after_the_reset_starts_a_new_day_and_lifts_the_lockout() -> None:
    h = await Harness(ruleset(LOCK)).start()
    await h.feed(fill(1, at(1), -600))
    next_day = dt.datetime(2026, 3, 3, 9, tzinfo=CHICAGO).astimezone(dt.UTC)
    h2 = await restart(h, next_day)
    assert not h2.engine.lockouts.account_locked
    assert h2.engine.ctx.day.realized_pnl == 0
    assert h2.store.backups[-1][1] == dt.date(2026, 3, 2)


def snapshot(*, trades: tuple[object, ...] = (), positions: tuple[object, ...] = ()) -> Snapshot:
    return Snapshot(
        AccountEvent(1, "acct", D(50000), True, T0),
        positions,  # type: ignore[arg-type]
        (order(5, at(0), contract=ES, stop=4990),),
        trades,  # type: ignore[arg-type]
        (ContractInfo(ES, "ES", D("0.25"), D("12.50")),),
    )


async def test_reconcile_replaces_positions_and_merges_trades_without_double_counting() -> None:
    h = await Harness(ruleset(LOCK)).start()
    await h.feed(fill(1, at(1), -100), position(at(1), 1))
    await h.feed(ConnectionEvent(ConnectionState.DISCONNECTED, at(2)))
    assert not h.engine.evaluating
    snap = snapshot(
        trades=(fill(1, at(1), -100), fill(2, at(3), -450)),
        positions=(position(at(2), 2, contract=ES, pid=7, price=5000),),
    )
    records = await h.engine.reconcile(snap)
    st = h.engine.state
    assert h.engine.evaluating
    assert st.ctx.day.realized_pnl == D(-550) and st.ctx.day.trades == 2
    assert set(st.positions) == {ES} and st.positions[ES].view.has_stop
    assert st.tick_value("ES") == D("12.50")
    assert h.engine.lockouts.account_locked  # the merged loss crossed the limit
    assert next(r.action for r in records) == "lockout(until=reset)"
    assert h.engine.metrics.series["reconciliation_ms"].count == 1


async def test_no_evaluation_between_disconnect_and_reconcile() -> None:
    h = await Harness(ruleset(LOCK)).start()
    await h.feed(ConnectionEvent(ConnectionState.DISCONNECTED, at(1)))
    await h.feed(fill(1, at(2), -600))
    assert not h.engine.lockouts.active
    await h.engine.reconcile(snapshot(trades=(fill(1, at(2), -600),)))
    assert h.engine.lockouts.account_locked
    assert h.engine.ctx.day.trades == 1


PAUSE = rule(
    "busy",
    lambda c: c.day.trades >= 1,
    (Action("pause", {"until": 300_000}),),
    on=(Trigger.FILL, Trigger.TRADE),
)


async def test_police_after_restart_closes_what_opened_during_a_pause_while_down() -> None:
    """Regression: police() called blocking(symbol) without a time, so a pause never matched."""
    h = await Harness(ruleset(PAUSE)).start()
    await h.feed(position(at(0), 1), fill(1, at(1), 10))  # the pause starts at at(1)
    assert h.engine.lockouts.paused and h.calls() == []
    h2 = await restart(h, at(60))
    assert h2.engine.lockouts.paused
    entry = order(
        8, at(40), contract=ES, type=OrderType.LIMIT, side=Side.BUY, stop=None, limit=4900
    )
    snap = Snapshot(
        AccountEvent(1, "acct", D(50000), True, at(60)),
        (position(at(0), 1), position(at(30), 1, contract=ES, pid=7, price=5000)),
        (order(5, at(45), stop=20990), entry),  # a stop for the old position, an entry
        (fill(1, at(1), 10),),
        (ContractInfo(ES, "ES", D("0.25"), D("12.50")),),
    )
    records = await h2.engine.reconcile(snap)
    assert sorted(c.describe() for c in h2.broker.calls) == [
        "cancel_order(8)",
        f"close_position({ES})",
    ]
    policed = [r for r in records if not r.action.startswith("pause")]
    assert len(policed) == 2 and all("paused" in r.reason for r in policed)


async def test_reconciliation_metric_covers_the_snapshot_fetch_when_told_when_it_began() -> None:
    """Regression: reconcile timed only its apply step, not the snapshot fetch before it."""
    h = await Harness(ruleset(LOCK)).start()
    fetch_began = time.perf_counter_ns() - 2_000_000_000  # the fetch took (at least) 2 s
    await h.engine.reconcile(snapshot(), started_ns=fetch_began)
    [elapsed] = h.engine.metrics.series["reconciliation_ms"].values()
    assert elapsed >= 2000
    await h.engine.reconcile(snapshot())  # without it: the apply alone, far under a second
    assert h.engine.metrics.series["reconciliation_ms"].values()[-1] < 1000


def test_a_fill_round_trips_through_its_record_field_for_field() -> None:
    """trade_record and trade_event share one list of the fields both keep (rmdsl.engine.restore):
    every field of a fill survives a restart, whatever its side, P&L or void."""
    closing = TradeEvent(
        7, 1, ES, at(3), D("5012.25"), D(-150), D("2.50"), Side.SELL, 2, voided=True, order_id=91
    )
    opening = TradeEvent(8, 1, MNQ, at(4), D("18000"), None, D("0.74"), Side.BUY, 1)
    for ev, ours in ((closing, True), (opening, False)):
        rec = restore.trade_record(1, ev, dt.date(2024, 3, 5), by_rmdsl=ours)
        assert (rec.trade_id, rec.symbol, rec.side, rec.by_rmdsl) == (
            ev.id,
            ev.symbol,
            ev.side.word,
            ours,
        )
        assert (rec.size, rec.price, rec.pnl, rec.fees, rec.voided, rec.order_id) == (
            ev.size,
            ev.price,
            ev.pnl,
            ev.fees,
            ev.voided,
            ev.order_id,
        )
        assert restore.trade_event(rec) == ev
