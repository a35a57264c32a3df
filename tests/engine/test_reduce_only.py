"""reduce_only(until: ...) and `until: HH:MM` on the engine's virtual clock (docs/decisions.md D16).

Each test would fail on the code before issue 12: `reduce_only` and clock-time ends did not
exist, and a record of kind reduce_only would have been read as an account lockout.
"""

from __future__ import annotations

import datetime as dt

from enginekit import (
    CHICAGO,
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

from rmdsl.contract.broker import ContractInfo, Snapshot
from rmdsl.contract.events import AccountEvent, OrderType, Side
from rmdsl.engine.exposure import mini_weight, worst_size
from rmdsl.engine.lockouts import until_instant
from rmdsl.engine.persistence import LockoutKind, UntilKindRecord
from rmdsl.engine.tradingday import Calendar
from rmdsl.lang.schema import ACTION_STRENGTH, Trigger, UntilKind
from rmdsl.rules.model import Action, ClockTime

REDUCE = rule(
    "reduce",
    lambda c: c.day.trades >= 1,
    (Action("reduce_only", {"until": UntilKind.RESET}),),
    on=(Trigger.FILL, Trigger.TRADE),
)


async def reduce_only_after_a_loss(h: Harness) -> None:
    """Long 3 MNQ, one sold at a loss: the reduce-only starts at at(2) with long 2."""
    await h.feed(position(at(0), 3), fill(1, at(1)), position(at(2), 2), fill(2, at(2), -50))
    assert h.engine.reduce_only.record() is not None


async def test_a_reduce_only_is_no_lockout_and_lets_exits_and_stop_moves_through() -> None:
    h = await Harness(ruleset(REDUCE)).start()
    await reduce_only_after_a_loss(h)
    assert not h.engine.lockouts.account_locked and not h.engine.lockouts.paused
    before = len(h.broker.calls)
    await h.feed(order(5, at(3), size=2, stop=20900))  # a stop for the 2 kept
    await h.feed(order(5, at(4), size=2, stop=20950))  # moved
    await h.feed(order(6, at(5), type=OrderType.LIMIT, size=2, stop=None, limit=21100))
    assert h.broker.calls[before:] == []


async def test_an_entry_an_add_and_an_exit_that_could_flip_are_cancelled() -> None:
    h = await Harness(ruleset(REDUCE)).start()
    await reduce_only_after_a_loss(h)
    await h.feed(order(5, at(3), size=2, stop=20900))
    buy = order(7, at(4), type=OrderType.LIMIT, side=Side.BUY, stop=None, limit=20990)
    es = order(8, at(5), contract=ES, type=OrderType.LIMIT, side=Side.BUY, stop=None, limit=5000)
    too_big = order(9, at(6), type=OrderType.LIMIT, size=5, stop=None, limit=21100)
    await h.feed(buy, es, too_big)
    assert [c.describe() for c in h.broker.calls[-3:]] == [
        "cancel_order(7)",
        "cancel_order(8)",
        "cancel_order(9)",
    ]


async def test_when_it_begins_the_working_entry_orders_are_cancelled_the_exits_kept() -> None:
    h = await Harness(ruleset(REDUCE)).start()
    await h.feed(position(at(0), 3), order(5, at(0), size=3, stop=20900))
    await h.feed(order(6, at(0.5), type=OrderType.LIMIT, side=Side.BUY, stop=None, limit=20990))
    await h.feed(fill(1, at(1)), position(at(2), 2), fill(2, at(2), -50))
    assert [c.describe() for c in h.broker.calls] == ["cancel_order(6)"]
    assert set(h.engine.state.orders) == {5}  # sell 3 on long 2: short 1 at worst, not past 2


async def test_a_fill_that_adds_is_reduced_back_and_one_that_flips_is_closed() -> None:
    h = await Harness(ruleset(REDUCE)).start()
    await reduce_only_after_a_loss(h)
    await h.feed(position(at(3), 4))  # a market buy of 2 filled
    assert h.broker.calls[-1].describe() == f"partial_close({MNQ}, 2)"  # back to the cap of 2
    await h.feed(position(at(4), 1))  # the trader's own exit: the cap is now 1
    await h.feed(position(at(5), 2, long=False))  # sold 3: short 2, a new position
    assert h.broker.calls[-1].describe() == f"close_position({MNQ})"


async def test_a_reduce_only_and_its_caps_survive_a_restart_and_undo_an_add_made_while_down() -> (
    None
):
    h = await Harness(ruleset(REDUCE)).start()
    await reduce_only_after_a_loss(h)
    await h.engine.stop()
    h2 = await Harness(h.engine.ruleset, start=at(60), store=h.store).start()
    [rec] = h2.engine.lockouts.active.values()
    assert rec.kind is LockoutKind.REDUCE_ONLY
    snap = Snapshot(
        AccountEvent(1, "acct", D(50000), True, at(60)),
        (position(at(0), 3),),  # added one while the daemon was down
        (order(8, at(50), contract=ES, type=OrderType.LIMIT, side=Side.BUY, stop=None, limit=1),),
        (fill(1, at(1)), fill(2, at(2), -50)),
        (ContractInfo(ES, "ES", D("0.25"), D("12.50")),),
    )
    await h2.engine.reconcile(snap)
    calls = sorted(c.describe() for c in h2.broker.calls)
    assert calls == ["cancel_order(8)", f"partial_close({MNQ}, 1)"]  # 3 back to the 2 it had


async def test_a_flatten_in_the_same_event_cancels_once_and_the_reduce_only_still_holds() -> None:
    both = rule(
        "both",
        lambda c: c.day.trades >= 1,
        (Action("flatten"), Action("reduce_only", {"until": UntilKind.RESET})),
        on=(Trigger.FILL, Trigger.TRADE),
    )
    h = await Harness(ruleset(both)).start()
    await h.feed(position(at(0), 1), order(6, at(0), type=OrderType.LIMIT, stop=None, limit=1))
    await h.feed(fill(1, at(1), -50))
    # the flatten cancels order 6 once: the reduce-only's own sweep is not sent again
    assert sorted(c.describe() for c in h.broker.calls) == [
        "cancel_order(6)",
        f"close_position({MNQ})",
    ]
    assert ACTION_STRENGTH["flatten"] > ACTION_STRENGTH["reduce_only"] > ACTION_STRENGTH["pause"]
    assert [r.action for r in h.records][-1] == "reduce_only(until=reset)"  # after the flatten
    assert h.engine.reduce_only.record() is not None


async def test_a_lockout_until_a_clock_time_lifts_at_that_instant_to_the_millisecond() -> None:
    lock = rule(
        "lunch",
        lambda c: c.day.trades >= 1,
        (Action("lockout", {"until": ClockTime(dt.time(13, 0))}),),
        on=(Trigger.FILL, Trigger.TRADE),
    )
    h = await Harness(ruleset(lock)).start()
    await h.feed(fill(1, at(1), -10))  # 09:00:01 CST
    [rec] = h.engine.lockouts.active.values()
    assert rec.until_kind is UntilKindRecord.CLOCK
    assert rec.until_ts == dt.datetime(2026, 3, 2, 13, 0, tzinfo=CHICAGO)
    four_hours = 4 * 3600 - 1
    await h.feed(clock(at(four_hours + 0.999)))
    assert h.engine.lockouts.account_locked
    await h.feed(clock(at(four_hours + 1)))
    assert not h.engine.lockouts.account_locked


def test_until_a_clock_time_is_the_next_one_across_midnight_and_dst() -> None:
    cal = Calendar.of(ruleset())
    one = ClockTime(dt.time(13, 0))
    late = dt.datetime(2026, 3, 2, 13, 0, tzinfo=CHICAGO)  # exactly 13:00: the next is tomorrow
    assert until_instant(one, late, cal)[0] == late + dt.timedelta(days=1)
    saturday = dt.datetime(2026, 3, 7, 14, 0, tzinfo=CHICAGO)
    sunday = until_instant(one, saturday, cal)[0]
    assert sunday is not None and sunday - saturday == dt.timedelta(hours=22)  # spring forward
    gap = until_instant(ClockTime(dt.time(2, 30)), saturday, cal)[0]
    assert gap == dt.datetime(2026, 3, 8, 8, 0, tzinfo=dt.UTC)  # 03:00 CDT: when clocks jump


def test_exposure_arithmetic_and_mini_weights() -> None:
    assert worst_size(2, 0, 4) == 2  # long 2 with a stop 2 and a target 2: nothing added
    assert worst_size(2, 1, 2) == 3  # an entry adds its size
    assert worst_size(-1, 3, 0) == 2  # buying 3 on short 1: long 2
    assert worst_size(0, 2, 1) == 2  # flat, both sides working: one side fills
    assert mini_weight("MNQ") == D("0.1") and mini_weight("NQ") == 1
    assert mini_weight("MBT") == 1  # weighted otherwise by TopstepX: counted whole


async def test_metrics_count_an_active_reduce_only_by_its_kind() -> None:
    """/metrics shows a reduce-only as its own kind, never as a lockout or a pause."""
    from rmdsl.dashboard.feed import DaemonFeed
    from rmdsl.dashboard.fleet import AccountView
    from rmdsl.dashboard.prom_accounts import account_text
    from rmdsl.metrics import Metrics

    h = await Harness(ruleset(REDUCE)).start()
    await reduce_only_after_a_loss(h)
    view = AccountView(7, "PRAC-1", h.engine, True, None, DaemonFeed(), Metrics())
    text = account_text([view])
    assert 'rmdsl_lockouts_active{account="PRAC-1",kind="reduce_only"} 1.0' in text
    assert 'rmdsl_lockouts_active{account="PRAC-1",kind="lockout"} 0.0' in text
    assert 'rmdsl_lockouts_active{account="PRAC-1",kind="pause"} 0.0' in text
