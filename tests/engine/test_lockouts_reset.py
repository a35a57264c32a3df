"""Lockouts close new positions and cancel new orders; lockout until reset lifts at the reset."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from enginekit import CHICAGO, ES, MNQ, D, clock, fill, harness, order, position, rule, ruleset

from rmdsl.contract.events import OrderType, Side
from rmdsl.lang.schema import Trigger, UntilKind
from rmdsl.rules.model import Action

LOCK = rule(
    "daily",
    lambda c: c.day.realized_pnl <= Decimal(-500),
    (Action("lockout", {"until": UntilKind.RESET}),),
    on=(Trigger.FILL, Trigger.TRADE),
)


def local(y: int, m: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=CHICAGO).astimezone(dt.UTC)


async def test_lockout_closes_a_position_opened_during_it_and_cancels_a_new_order() -> None:
    start = local(2026, 3, 2, 9)
    h = await harness(ruleset(LOCK), start=start)
    await h.feed(fill(1, start + dt.timedelta(minutes=1), -500))
    assert h.engine.lockouts.account_locked and h.broker.calls == []
    t = start + dt.timedelta(minutes=5)
    await h.feed(position(t, 1, contract=ES, pid=3))
    assert [c.describe() for c in h.broker.calls] == [f"close_position({ES})"]
    await h.feed(order(11, t, type=OrderType.LIMIT, side=Side.BUY, stop=None, limit=20000))
    assert h.broker.calls[-1].describe() == "cancel_order(11)"
    assert h.records[-1].rule_name == "daily" and "locked out" in h.records[-1].reason


async def test_market_orders_are_not_cancelled_during_a_lockout() -> None:
    start = local(2026, 3, 2, 9)
    h = await harness(ruleset(LOCK), start=start)
    await h.feed(fill(1, start, -600))
    await h.feed(order(12, start, type=OrderType.MARKET, stop=None))
    assert h.broker.calls == []


async def test_lockout_until_reset_lifts_at_17_local_and_counters_reset() -> None:
    start = local(2026, 3, 2, 9)
    h = await harness(ruleset(LOCK), start=start)
    await h.feed(fill(1, start, -700))
    assert h.engine.lockouts.account_locked
    await h.feed(clock(local(2026, 3, 2, 16, 59, 59)))
    assert h.engine.lockouts.account_locked
    await h.feed(clock(local(2026, 3, 2, 17, 0, 0)))
    assert not h.engine.lockouts.account_locked
    assert h.engine.ctx.day.realized_pnl == 0 and h.engine.ctx.day.trades == 0
    (lk,) = h.store.lockouts.values()
    assert lk.lifted_at == local(2026, 3, 2, 17)
    assert h.store.backups == [(1, dt.date(2026, 3, 2), local(2026, 3, 2, 17))]
    assert h.store.calls.index("before_reset") < h.store.calls.index("reset_day")
    await h.feed(position(local(2026, 3, 2, 18), 1))
    assert h.broker.calls == []


async def test_reset_across_spring_forward_at_17_local() -> None:
    # DST starts Sunday 2026-03-08: Friday's reset is 23:00 UTC, Sunday's is 22:00 UTC
    start = local(2026, 3, 6, 16)
    h = await harness(ruleset(LOCK), start=start)
    assert h.engine.next_reset == dt.datetime(2026, 3, 6, 23, tzinfo=dt.UTC)
    await h.feed(clock(dt.datetime(2026, 3, 7, 0, tzinfo=dt.UTC)))  # past Friday's
    assert h.engine.trading_day == dt.date(2026, 3, 7)
    await h.feed(clock(dt.datetime(2026, 3, 8, 21, 59, tzinfo=dt.UTC)))
    await h.feed(fill(1, dt.datetime(2026, 3, 8, 21, 59, 30, tzinfo=dt.UTC), -600))
    assert h.engine.lockouts.account_locked
    (lk,) = h.engine.lockouts.active.values()
    assert lk.until_ts == dt.datetime(2026, 3, 8, 22, tzinfo=dt.UTC)  # 17:00 CDT
    await h.feed(clock(dt.datetime(2026, 3, 8, 22, tzinfo=dt.UTC)))
    assert not h.engine.lockouts.account_locked
    assert h.engine.trading_day == dt.date(2026, 3, 9)


async def test_reset_across_fall_back_at_17_local() -> None:
    # DST ends Sunday 2026-11-01: Friday's reset is 22:00 UTC, Sunday's is 23:00 UTC
    start = local(2026, 10, 30, 16)
    h = await harness(ruleset(LOCK), start=start)
    assert h.engine.next_reset == dt.datetime(2026, 10, 30, 22, tzinfo=dt.UTC)
    await h.feed(clock(dt.datetime(2026, 11, 1, 22, 30, tzinfo=dt.UTC)))  # 16:30 CST
    assert h.engine.trading_day == dt.date(2026, 11, 1)
    await h.feed(fill(1, dt.datetime(2026, 11, 1, 22, 31, tzinfo=dt.UTC), -500))
    (lk,) = h.engine.lockouts.active.values()
    assert lk.until_ts == dt.datetime(2026, 11, 1, 23, tzinfo=dt.UTC)
    await h.feed(clock(dt.datetime(2026, 11, 1, 22, 59, 59, tzinfo=dt.UTC)))
    assert h.engine.lockouts.account_locked
    await h.feed(clock(dt.datetime(2026, 11, 1, 23, 0, 0, tzinfo=dt.UTC)))
    assert not h.engine.lockouts.account_locked


async def test_cooldown_lifts_after_its_duration() -> None:
    start = local(2026, 3, 2, 9)
    rs = ruleset(rule("cool", lambda c: c.day.losses >= 1, (Action("lockout", {"until": 60_000}),)))
    h = await harness(rs, start=start)
    await h.feed(fill(1, start, -5))
    await h.feed(position(start + dt.timedelta(seconds=59), 1))
    assert h.calls() == ["close_position"]
    await h.feed(position(start + dt.timedelta(seconds=60), 1))
    assert h.calls() == ["close_position"]  # lifted exactly at the deadline
    assert MNQ in h.engine.state.positions


async def test_lockout_until_session_start() -> None:
    start = local(2026, 3, 2, 15, 30)  # after the 08:30..15:10 session
    rs = ruleset(
        rule(
            "s",
            lambda c: c.day.losses >= 1,
            (Action("lockout", {"until": UntilKind.SESSION_START}),),
        )
    )
    h = await harness(rs, start=start)
    await h.feed(fill(1, start, -5))
    (lk,) = h.engine.lockouts.active.values()
    assert lk.until_ts == local(2026, 3, 3, 8, 30)


async def test_a_second_lockout_inside_a_longer_one_is_not_added() -> None:
    start = local(2026, 3, 2, 9)
    rs = ruleset(
        LOCK,
        rule("cool", lambda c: c.day.losses >= 1, (Action("lockout", {"until": 60_000}),)),
    )
    h = await harness(rs, start=start)
    await h.feed(fill(1, start, D(-500)))
    assert len(h.engine.lockouts.active) == 1
    assert [r.outcome for r in h.records if r.rule_name == "cool"] == ["skipped"]


async def test_a_lockout_on_a_flat_account_records_one_lockout_not_a_second_skipped_one() -> None:
    """Regression: the lockout's own flatten wrote a second `lockout(...)` record, "skipped
    (already flat)", next to the one that set it: two records for one firing in history."""
    start = local(2026, 3, 2, 9)
    h = await harness(ruleset(LOCK), start=start)
    await h.feed(fill(1, start + dt.timedelta(minutes=1), -500))
    assert h.fired() == [("daily", "lockout(until=reset)", "ok")]
    assert [r.action for r in h.store.enforcements] == ["lockout(until=reset)"]


async def test_a_lockout_with_exposure_still_records_each_close_of_its_flatten() -> None:
    start = local(2026, 3, 2, 9)
    h = await harness(ruleset(LOCK), start=start)
    await h.feed(position(start, 1))
    await h.feed(fill(1, start + dt.timedelta(minutes=1), -500))
    assert h.fired() == [("daily", "lockout(until=reset)", "ok")] * 2
    assert [c.describe() for c in h.broker.calls] == [f"close_position({MNQ})"]
