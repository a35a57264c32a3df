"""The trading-day boundary is clean: a fill counts in the day of its own timestamp, once
(issue 9, section 3): live, late, re-delivered, through a reconcile or after a restart."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from enginekit import CHICAGO, MNQ, D, Harness, fill, position, rule, ruleset

from rmdsl.contract.broker import Snapshot
from rmdsl.contract.events import AccountEvent, ClockEvent, QuoteEvent, Side
from rmdsl.enforce.recording_broker import RecordingBroker
from rmdsl.engine.core import Engine
from rmdsl.lang.schema import Trigger, UntilKind
from rmdsl.notify import CollectingNotifier
from rmdsl.rules.model import Action, Ruleset
from rmdsl.store import SqliteStore

OLD_DAY, NEW_DAY = dt.date(2026, 3, 2), dt.date(2026, 3, 3)
LOCK = rule(
    "daily",
    lambda c: c.day.realized_pnl <= Decimal(-500),
    (Action("lockout", {"until": UntilKind.RESET}),),
    on=(Trigger.FILL, Trigger.TRADE),
)


def local(hh: int, mm: int = 0, ss: float = 0) -> dt.datetime:
    whole = int(ss)
    micro = round((ss - whole) * 1e6)
    return dt.datetime(2026, 3, 2, hh, mm, whole, micro, tzinfo=CHICAGO).astimezone(dt.UTC)


def tick(ts: dt.datetime) -> QuoteEvent:
    return QuoteEvent(MNQ, ts, D(21000))


async def past_the_reset(h: Harness) -> None:
    await h.feed(tick(local(17, 0, 0.05)))  # the engine's clock passes 17:00: the reset
    assert h.engine.trading_day == NEW_DAY


async def test_a_duplicate_of_a_1659_fill_after_the_reset_never_counts_again() -> None:
    """Today: counted again in the new day, it locks the trader out for the whole next day."""
    h = await Harness(ruleset(LOCK), start=local(9)).start()
    await h.feed(fill(1, local(16, 59, 59), -600))
    assert h.engine.lockouts.account_locked
    await past_the_reset(h)
    assert not h.engine.lockouts.account_locked
    await h.feed(fill(1, local(16, 59, 59), -600))  # re-sent after a reconnect
    assert h.engine.ctx.day.realized_pnl == 0 and h.engine.ctx.day.trades == 0
    assert not h.engine.lockouts.account_locked
    assert h.store.trades[(1, 1)].trading_day == OLD_DAY
    assert h.store.days[(1, OLD_DAY)].realized_pnl == D(-600)


async def test_a_late_fill_counts_in_its_own_closed_day_not_the_new_one() -> None:
    """Stamped 16:59:59.900, delivered after the reset: the old day's row, no rule fires."""
    h = await Harness(ruleset(LOCK), start=local(9)).start()
    await h.feed(fill(1, local(15), -100))
    await past_the_reset(h)
    late = fill(2, local(16, 59, 59.9), -450, side=Side.SELL)
    records = await h.feed(late)
    assert records == [] and not h.engine.lockouts.active
    day = h.engine.ctx.day
    assert (day.realized_pnl, day.trades, day.losses) == (0, 0, 0)
    old = h.store.days[(1, OLD_DAY)]
    assert (old.realized_pnl, old.trades, old.losses) == (D(-550), 2, 2)
    assert h.store.trades[(1, 2)].trading_day == OLD_DAY
    assert h.store.accounts[1].trading_day == NEW_DAY  # the newest row is still today's
    await h.feed(late)  # and once only
    assert h.store.days[(1, OLD_DAY)].realized_pnl == D(-550)


async def test_a_late_closing_fill_still_shrinks_the_position_it_closed() -> None:
    h = await Harness(ruleset(grace_ms=3 * 86_400_000), start=local(9)).start()
    await h.feed(position(local(16), 2))
    await past_the_reset(h)
    await h.feed(fill(3, local(16, 59, 59.9), -5, side=Side.SELL))
    assert h.engine.state.positions[MNQ].size == 1


async def test_reconcile_follows_the_same_day_rule_as_the_live_path() -> None:
    """Today: reconcile skipped the old day's fill entirely (and the live path counted it)."""
    h = await Harness(ruleset(LOCK), start=local(9)).start()
    await h.feed(fill(1, local(16, 59, 59), -600))
    await past_the_reset(h)
    snap = Snapshot(
        AccountEvent(1, "acct", D(50000), True, local(17, 1)),
        (),
        (),
        (
            fill(1, local(16, 59, 59), -600),  # known: a duplicate
            fill(2, local(16, 59, 59.9), -50),  # missed while disconnected
            fill(3, local(17, 0, 30), -20),  # today's
        ),
    )
    records = await h.engine.reconcile(snap)
    await h.engine.flush()
    assert records == []
    assert h.engine.ctx.day.realized_pnl == D(-20) and h.engine.ctx.day.trades == 1
    assert h.store.days[(1, OLD_DAY)].realized_pnl == D(-650)
    assert {t: h.store.trades[(1, t)].trading_day for t in (1, 2, 3)} == {
        1: OLD_DAY,
        2: OLD_DAY,
        3: NEW_DAY,
    }


async def test_yesterday_s_ids_are_forgotten_after_one_more_day() -> None:
    """Memory is bounded: the ids of the previous trading day only."""
    h = await Harness(ruleset(), start=local(9)).start()
    await h.feed(fill(1, local(16), -10))
    await past_the_reset(h)
    assert set(h.engine.state.previous) == {1}
    await h.feed(ClockEvent(local(17) + dt.timedelta(days=1, seconds=1)))
    assert h.engine.state.previous == {}


def _engine(rs: Ruleset, store: SqliteStore, now: dt.datetime) -> Engine:
    broker = RecordingBroker()
    eng = Engine(rs, broker, store, CollectingNotifier(), lambda: now, account_id=1)
    broker.state = eng.state
    return eng


async def test_after_a_restart_past_the_reset_a_re_sent_fill_is_still_known(
    tmp_path: Path,
) -> None:
    """The previous day's ids and row come back from the SQLite store at start."""
    rs = ruleset(LOCK)
    path = tmp_path / "state.db"
    async with SqliteStore(path) as store:
        eng = _engine(rs, store, local(9))
        await eng.start()
        await eng.process(fill(1, local(16, 59, 59), -600))
        await eng.process(tick(local(17, 0, 1)))  # the reset
        await eng.stop()
    async with SqliteStore(path) as store:
        eng = _engine(rs, store, local(17, 5))
        await eng.start()
        assert set(eng.state.previous) == {1}
        assert eng.closed_day is not None and eng.closed_day.trading_day == OLD_DAY
        await eng.process(fill(1, local(16, 59, 59), -600))
        await eng.process(fill(2, local(16, 59, 59.9), -50))  # a late one, after the restart
        assert eng.ctx.day.realized_pnl == 0 and not eng.lockouts.active
        await eng.stop()
    async with SqliteStore(path) as store:
        (newest, old) = await store.daily_history(1, days=2)
        assert (newest.trading_day, newest.realized_pnl) == (NEW_DAY, 0)
        assert (old.trading_day, old.realized_pnl, old.trades) == (OLD_DAY, D(-650), 2)
