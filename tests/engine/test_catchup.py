"""Catch-up at start and after a reconnect: missed fills evaluated as of when they happened.

Each test reconciles a snapshot holding what the broker shows happened while
rmdsl was not listening, on the virtual clock: nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from enginekit import (
    ES,
    MNQ,
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
from test_restore import restart

from rmdsl.contract.broker import Snapshot
from rmdsl.contract.events import (
    AccountEvent,
    ConnectionEvent,
    ConnectionState,
    PositionEvent,
    Side,
    TradeEvent,
)
from rmdsl.errors import BrokerError
from rmdsl.lang.schema import Scope, Trigger, UntilKind
from rmdsl.rules.model import Action, Ruleset

NOW = at(3600)  # the daemon (re)starts an hour into the session
MIN = 60.0

COOLDOWN = rule(
    "loss_cooldown",
    lambda c: c.trade.pnl < 0,
    (Action("lockout", {"until": 30 * 60_000}),),
    scope=Scope.TRADE,
    on=(Trigger.TRADE,),
)
STREAK = rule(
    "two_losses",
    lambda c: c.day.consecutive_losses >= 2,
    (Action("lockout", {"until": 30 * 60_000}),),
    on=(Trigger.TRADE,),
)
BURST = rule(
    "burst",
    lambda c: c.funcs.trades(10 * 60_000) >= 3,
    (Action("lockout", {"until": 60 * 60_000}),),
    on=(Trigger.TRADE,),
)
ES_BLOCK = rule(
    "es_loss",
    lambda c: c.trade.symbol == "ES" and c.trade.pnl <= Decimal(-200),
    (Action("block_symbol", {"until": UntilKind.RESET}),),
    scope=Scope.TRADE,
    on=(Trigger.TRADE,),
)
BIG_FILL = rule(
    "big_fill_alert",
    lambda c: c.trade.size >= 5,
    (Action("alert"),),
    scope=Scope.TRADE,
    on=(Trigger.FILL,),
)


def snap(
    *trades: TradeEvent, positions: tuple[PositionEvent, ...] = (), orders: tuple[object, ...] = ()
) -> Snapshot:
    return Snapshot(
        AccountEvent(1, "acct", D(50000), True, NOW),
        positions,
        orders,  # type: ignore[arg-type]
        trades,
    )


async def started(rs: Ruleset, now: dt.datetime = NOW) -> Harness:
    """A daemon-like start: engine restored, not evaluating until the first reconcile."""
    h = await Harness(rs, start=now).start()
    h.engine.evaluating = False
    return h


def lock_ends(h: Harness) -> list[dt.datetime | None]:
    return sorted(
        (lk.until_ts for lk in h.engine.lockouts.active.values()),
        key=lambda t: t or dt.datetime.max.replace(tzinfo=dt.UTC),
    )


async def test_a_cooldown_from_a_missed_loss_locks_until_the_fill_plus_its_duration() -> None:
    h = await started(ruleset(COOLDOWN))
    loss = fill(1, NOW - dt.timedelta(minutes=10), -50, side=Side.SELL)
    records = await h.engine.reconcile(snap(loss))
    assert lock_ends(h) == [loss.ts + dt.timedelta(minutes=30)]
    assert [(r.rule_name, r.action) for r in records] == [("loss_cooldown", "lockout(until=30m)")]
    await h.engine.flush()  # the writer commits the reconcile's writes behind it
    [stored] = h.store.lockouts.values()
    assert stored.created_at == loss.ts  # the lockout started when the fill happened


async def test_a_cooldown_that_ended_while_down_is_nothing() -> None:
    h = await started(ruleset(COOLDOWN))
    old = fill(1, NOW - dt.timedelta(minutes=40), -50, side=Side.SELL)
    records = await h.engine.reconcile(snap(old, positions=(position(at(3500), 1),)))
    assert not h.engine.lockouts.active and not h.store.lockouts
    assert records == [] and h.calls() == []  # no lockout, and no flatten of today's position
    assert h.engine.ctx.day.trades == 1  # the fill still counts


async def test_missed_fills_are_evaluated_in_time_order_each_at_its_ts() -> None:
    h = await started(ruleset(STREAK))
    first = fill(1, NOW - dt.timedelta(minutes=20), -10, side=Side.SELL)
    second = fill(2, NOW - dt.timedelta(minutes=15), -10, side=Side.SELL)
    await h.engine.reconcile(snap(second, first))  # the broker's order does not matter
    assert lock_ends(h) == [second.ts + dt.timedelta(minutes=30)]


async def test_a_frequency_rule_counts_its_window_as_of_the_missed_fill() -> None:
    h = await started(ruleset(BURST))
    burst = [fill(i, NOW - dt.timedelta(minutes=30 - i), 5, side=Side.SELL) for i in range(3)]
    await h.engine.reconcile(snap(*burst))
    # evaluated now, trades(10m) would be 0: as of the third fill it is 3
    assert lock_ends(h) == [burst[2].ts + dt.timedelta(hours=1)]


async def test_a_trade_scoped_symbol_block_from_a_missed_fill_is_in_force() -> None:
    h = await started(ruleset(ES_BLOCK))
    es_loss = fill(1, NOW - dt.timedelta(hours=2), -250, contract=ES, side=Side.SELL)
    es_now = position(NOW - dt.timedelta(minutes=1), 1, contract=ES, pid=7, price=5000)
    await h.engine.reconcile(snap(es_loss, positions=(es_now,)))
    [lock] = h.engine.lockouts.active.values()
    assert lock.symbol == "ES" and lock.created_at == es_loss.ts
    assert f"close_position({ES})" in [c.describe() for c in h.broker.calls]


async def test_a_missed_fill_is_evaluated_once_whether_seen_in_the_snapshot_or_live() -> None:
    h = await started(ruleset(BIG_FILL))
    big = fill(1, NOW - dt.timedelta(minutes=1), None, size=5)
    await h.feed(big)  # the live copy came first, while not evaluating: held, not applied
    assert h.engine.ctx.day.trades == 0 and h.records == []
    records = await h.engine.reconcile(snap(big))
    assert [r.rule_name for r in records] == ["big_fill_alert"]
    await h.feed(big)  # the live copy again after the reconcile: a duplicate
    assert [r.rule_name for r in h.records + records] == ["big_fill_alert"]


async def test_a_fill_held_during_a_disconnect_but_missing_from_the_snapshot_counts() -> None:
    h = await Harness(ruleset(BIG_FILL), start=NOW).start()
    await h.feed(ConnectionEvent(ConnectionState.DISCONNECTED, NOW))
    big = fill(1, NOW, None, size=5)
    await h.feed(big)
    records = await h.engine.reconcile(snap())  # the trade search lagged behind the hub
    assert [r.rule_name for r in records] == ["big_fill_alert"]
    assert 1 in h.engine.state.trades


async def test_nothing_fires_twice_for_what_was_enforced_before_the_crash() -> None:
    h = await Harness(ruleset(COOLDOWN), start=NOW - dt.timedelta(minutes=10)).start()
    loss = fill(1, NOW - dt.timedelta(minutes=10), -50, side=Side.SELL)
    await h.feed(loss)
    assert len(h.store.lockouts) == 1
    h2 = await restart(h, NOW)
    h2.engine.evaluating = False
    records = await h2.engine.reconcile(snap(loss))
    assert records == [] and h2.calls() == []
    assert len(h2.store.lockouts) == 1 and len(h2.engine.lockouts.active) == 1


async def test_a_position_unprotected_past_its_grace_while_down_is_closed_at_once() -> None:
    h = await started(ruleset(grace_ms=120_000))
    stale = position(NOW - dt.timedelta(minutes=5), 1)
    fresh = position(NOW - dt.timedelta(seconds=30), 1, contract=ES, pid=7, price=5000)
    records = await h.engine.reconcile(snap(positions=(stale, fresh)))
    assert [c.describe() for c in h.broker.calls] == [f"close_position({MNQ})"]
    assert [r.rule_name for r in records] == ["no_stop_loss_grace"]
    timer = h.engine.evaluator.timers.running[f"no_stop_loss_grace|{ES}"]
    assert timer.deadline == fresh.ts + dt.timedelta(minutes=2)  # from its open, not from now


async def test_a_known_position_keeps_its_running_grace_timer() -> None:
    h = await Harness(ruleset(grace_ms=120_000), start=NOW - dt.timedelta(seconds=100)).start()
    opened = position(NOW - dt.timedelta(seconds=100), 1)
    await h.feed(opened)
    h2 = await restart(h, NOW)
    h2.engine.evaluating = False
    await h2.engine.reconcile(snap(positions=(opened,)))
    timer = h2.engine.evaluator.timers.running[f"no_stop_loss_grace|{MNQ}"]
    assert timer.deadline == opened.ts + dt.timedelta(minutes=2) and h2.calls() == []


async def test_a_protected_position_gets_no_grace_timer() -> None:
    h = await started(ruleset(grace_ms=60_000))
    pos = position(NOW - dt.timedelta(minutes=5), 1)
    await h.engine.reconcile(snap(positions=(pos,), orders=(order(5, at(10)),)))
    assert h.calls() == [] and not h.engine.evaluator.timers.running


async def test_a_reset_lockout_from_a_missed_daily_loss_is_in_force() -> None:
    daily = rule(
        "daily",
        lambda c: c.day.realized_pnl <= Decimal(-500),
        (Action("flatten"), Action("lockout", {"until": UntilKind.RESET})),
        on=(Trigger.TRADE,),
    )
    h = await started(ruleset(daily))
    loss = fill(1, NOW - dt.timedelta(minutes=50), -600, side=Side.SELL)
    await h.engine.reconcile(snap(loss, positions=(position(NOW - dt.timedelta(minutes=2), 1),)))
    assert h.engine.lockouts.account_locked
    [lock] = h.engine.lockouts.active.values()
    assert lock.created_at == loss.ts
    assert f"close_position({MNQ})" in [c.describe() for c in h.broker.calls]


async def test_a_scripted_reconciled_event_catches_up_the_held_fills() -> None:
    """`rmdsl test` / replay: a disconnect, fills, then `reconciled` without a snapshot."""
    h = await Harness(ruleset(COOLDOWN), start=NOW).start()
    await h.feed(ConnectionEvent(ConnectionState.DISCONNECTED, NOW))
    loss = fill(1, NOW + dt.timedelta(seconds=5), -50, side=Side.SELL)
    await h.feed(loss)
    assert not h.engine.lockouts.active
    await h.feed(ConnectionEvent(ConnectionState.RECONCILED, NOW + dt.timedelta(seconds=9)))
    assert lock_ends(h) == [loss.ts + dt.timedelta(minutes=30)]
    assert h.engine.evaluating and h.engine.ctx.day.trades == 1


async def test_a_position_reopened_while_down_gets_its_own_grace() -> None:
    """The grace fired (and latched) on a position closed while down; the new one in the
    same contract is another position: its grace counts from its own open."""
    h = await Harness(ruleset(grace_ms=60_000), start=at(0)).start()
    await h.feed(position(at(0), 1))
    h.broker.fail = lambda method: BrokerError("gateway down")
    await h.feed(clock(at(60)))  # the grace fires and latches; its close fails
    h.broker.fail = None
    await h.feed(ConnectionEvent(ConnectionState.DISCONNECTED, at(61)), clock(at(600)))
    reopened = position(at(300), 1, pid=2)  # the old one closed meanwhile
    records = await h.engine.reconcile(snap(positions=(reopened,)))
    assert [(r.rule_name, r.outcome) for r in records] == [("no_stop_loss_grace", "ok")]
    assert [c.describe() for c in h.broker.calls][-1] == f"close_position({MNQ})"


async def test_a_caught_up_lockout_flattens_once_without_a_second_policing_call() -> None:
    h = await started(ruleset(COOLDOWN))
    loss = fill(1, NOW - dt.timedelta(minutes=5), -50, side=Side.SELL)
    snapshot = snap(
        loss, positions=(position(NOW - dt.timedelta(minutes=1), 1),), orders=(order(5, at(3590)),)
    )
    await h.engine.reconcile(snapshot)
    assert sorted(c.describe() for c in h.broker.calls) == [
        "cancel_order(5)",
        f"close_position({MNQ})",
    ]


OVER_ONE = rule(
    "max_one",
    lambda c: c.positions.contracts > 1,
    (Action("reduce_position", {"to": 1}),),
    scope=Scope.POSITION,
    on=(Trigger.POSITION,),
)


async def test_a_reduce_not_confirmed_before_the_crash_is_sent_again_after_it() -> None:
    """Goals live in memory: a partial close accepted but not done when the daemon died is
    not lost, because the rule (latched only in memory) fires again at the reconcile."""
    h = await Harness(ruleset(OVER_ONE), start=NOW - dt.timedelta(seconds=5)).start()
    h.broker.simulate = False  # accepted, then the daemon dies before anything happens
    big = position(NOW - dt.timedelta(seconds=5), 3)
    await h.feed(big)
    assert [c.describe() for c in h.broker.calls] == [f"partial_close({MNQ}, 2)"]
    h2 = await restart(h, NOW)
    h2.engine.evaluating = False
    await h2.engine.reconcile(snap(positions=(big,)))  # the broker still shows 3
    assert [c.describe() for c in h2.broker.calls] == [f"partial_close({MNQ}, 2)"]
