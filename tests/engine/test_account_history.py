"""The account model and the day history on the engine's virtual clock (rmdsl.engine.account,
.history, .dayclose): the reset takes the end-of-day balance, the closed days are kept in
the state database through the write-behind writer, a restart (also one that slept through
a reset) restores them, a late fill rewrites its day, and the history stays bounded."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from tests.engine.enginekit import CHICAGO, D, Harness, at, clock, fill, param, rule, ruleset

from rmdsl.contract.events import AccountEvent, Side
from rmdsl.engine.account import AccountModel
from rmdsl.engine.history import KEEP_DAYS, WINDOW_DAYS, DayHistory
from rmdsl.engine.persistence import AccountStateRecord, DayResultRecord
from rmdsl.engine.tradingday import Calendar
from rmdsl.lang.context import EvalContext
from rmdsl.rules.model import Action, SessionHours, WeekStart
from rmdsl.store.sqlite import SqliteStore
from rmdsl.tooling.memory_store import MemoryStore

DAY = 86_400.0
RESET = 8 * 3600.0  # 17:00 CT is 8 hours after T0 (Monday 09:00 CST)


def balance(ts: dt.datetime, value: object) -> AccountEvent:
    return AccountEvent(1, "test", D(value), True, ts)


def account_rules(**extra: object) -> object:
    params = {
        "account_size": param("account_size", D(50000)),
        "mll_distance": param("mll_distance", D(2000)),
    }
    params.update({k: param(k, v) for k, v in extra.items()})  # type: ignore[misc]
    guard = rule("guard", lambda ctx: ctx.account.to_mll <= Decimal(250), (Action("alert"),))
    return ruleset(guard, params=params)


async def test_the_reset_takes_the_end_of_day_balance_and_keeps_the_day() -> None:
    h = await Harness(account_rules()).start()  # type: ignore[arg-type]
    acct = h.engine.ctx.account
    await h.feed(balance(at(60), 50000), fill(1, at(120)), fill(2, at(121), -300, side=Side.SELL))
    await h.feed(balance(at(3600), 52500), balance(at(7200), 51000))
    assert (acct.eod_high, acct.mll) == (50000, 48000)  # an intraday high moves nothing
    await h.feed(clock(at(RESET - 0.001)))
    assert acct.mll == 48000
    await h.feed(clock(at(RESET)))
    assert (acct.eod_high, acct.mll, acct.to_mll) == (51000, 49000, 2000)
    await h.engine.flush()
    row = h.store.day_results[(1, dt.date(2026, 3, 2))]
    assert (row.realized_pnl, row.trades, row.eod_balance, row.eod_high) == (-300, 1, 51000, 51000)
    assert "record_day" in h.store.calls  # through StateStore.apply, like every write
    assert h.engine.ctx.week.realized_pnl == -300 and h.engine.ctx.day.realized_pnl == 0


async def test_a_restart_restores_the_days_the_high_and_the_window_from_sqlite(
    tmp_path: Path,
) -> None:
    rs = account_rules()
    path = tmp_path / "state.db"
    async with SqliteStore(path) as store:
        h = await Harness(rs, store=store).start()  # type: ignore[arg-type]
        await h.feed(
            balance(at(60), 51000), fill(1, at(120)), fill(2, at(121), -300, side=Side.SELL)
        )
        await h.feed(clock(at(RESET)), fill(3, at(DAY)), fill(4, at(DAY + 1), -200, side=Side.SELL))
        await h.engine.stop()
    async with SqliteStore(path) as store:
        h2 = await Harness(rs, start=at(DAY + 600), store=store).start()  # type: ignore[arg-type]
        ctx = h2.engine.ctx
        assert ctx.account.eod_high == 51000 and ctx.account.mll == 49000
        assert ctx.week.realized_pnl == -500 and ctx.day.realized_pnl == -200
        assert ctx.funcs.pnl(2 * 86_400_000) == -500  # Monday's fill is re-read for the window
        assert ctx.funcs.days.realized_pnl(2) == -500
        assert ctx.funcs.fills(2 * 86_400_000) == 4
        await h2.engine.stop()


async def test_a_reset_slept_through_closes_the_day_with_the_last_balance_seen(
    tmp_path: Path,
) -> None:
    rs = account_rules()
    path = tmp_path / "state.db"
    async with SqliteStore(path) as store:
        h = await Harness(rs, store=store).start()  # type: ignore[arg-type]
        await h.feed(
            balance(at(60), 51500), fill(1, at(120)), fill(2, at(121), -250, side=Side.SELL)
        )
        await h.engine.stop()
    async with SqliteStore(path) as store:  # Tuesday 09:00: Monday's reset passed while down
        h2 = await Harness(rs, start=at(DAY), store=store).start()  # type: ignore[arg-type]
        ctx = h2.engine.ctx
        assert ctx.account.eod_high == 51500 and ctx.account.mll == 49500
        assert ctx.week.realized_pnl == -250 and ctx.day.realized_pnl == 0
        assert ctx.funcs.pnl(86_400_000) == -250
        await h2.engine.stop()
    async with SqliteStore(path, readonly=True) as reader:
        rows = await reader.day_results(1, dt.date(2026, 3, 4))
    assert [(r.trading_day, r.realized_pnl, r.eod_high) for r in rows] == [
        (dt.date(2026, 3, 2), -250, 51500)
    ]


async def test_a_late_fill_of_the_closed_day_rewrites_its_row_not_today() -> None:
    h = await Harness(account_rules()).start()  # type: ignore[arg-type]
    await h.feed(balance(at(60), 50000), fill(1, at(120)), clock(at(RESET + 1)))
    await h.feed(fill(2, at(RESET - 0.1), -400, side=Side.SELL))  # stamped 16:59:59.900
    ctx = h.engine.ctx
    assert ctx.day.realized_pnl == 0 and ctx.week.realized_pnl == -400
    assert ctx.funcs.pnl(3_600_000) == -400
    await h.engine.flush()
    row = h.store.day_results[(1, dt.date(2026, 3, 2))]
    assert (row.realized_pnl, row.trades, row.eod_balance) == (-400, 1, 50000)


async def test_a_seed_raises_the_end_of_day_high_but_never_lowers_it() -> None:
    store, friday = MemoryStore(), dt.date(2026, 2, 27)
    store.day_results[(1, friday)] = DayResultRecord(1, friday, eod_high=D(51000))
    await store.save_account_state(AccountStateRecord(1, dt.date(2026, 3, 2)))  # today's row
    h = await Harness(account_rules(start_eod_high=D(50500)), store=store).start()  # type: ignore[arg-type]
    assert h.engine.ctx.account.eod_high == 51000  # the kept high wins over a lower seed
    h2 = await Harness(account_rules(start_eod_high=D(52100))).start()  # type: ignore[arg-type]
    assert (h2.engine.ctx.account.eod_high, h2.engine.ctx.account.mll) == (52100, 50000)


async def test_a_window_longer_than_kept_is_a_rule_error_at_run_time() -> None:
    window = {"w": WINDOW_DAYS * 86_400_000 + 1}

    def long_window(ctx: EvalContext) -> bool:
        return ctx.funcs.pnl(window["w"]) < 0

    h = await Harness(ruleset(rule("long", long_window, (Action("alert"),)))).start()
    await h.feed(fill(1, at(60)))
    errors = [r for r in h.records if r.rule_name == "long"]
    assert errors and "31 days" in (errors[0].error or "")


def test_the_history_is_bounded_to_keep_days_trading_days() -> None:
    history = DayHistory(EvalContext())
    cal = Calendar(CHICAGO, dt.time(17, 0), SessionHours())
    today = dt.date(2027, 12, 31)
    day = today - dt.timedelta(days=700)
    while day < today:
        history.add_day(DayResultRecord(1, day, realized_pnl=D(-1)))
        day += dt.timedelta(days=1)
    history.set_day(cal, today, WeekStart())
    history.prune()
    sessions = [d for d in history.days if d.trading_day.weekday() < 5]
    assert len(sessions) == KEEP_DAYS - 1  # today is the 400th
    assert history.days[0].trading_day == history.first_day(KEEP_DAYS)
    assert history.realized(KEEP_DAYS) == -len(history.days)  # every kept row counts
    assert history.realized(1) == 0  # today only
    with pytest.raises(ValueError, match=r"1\.\.400"):
        history.realized(KEEP_DAYS + 1)


def test_a_week_start_off_the_reset_counts_whole_trading_days() -> None:
    history = DayHistory(EvalContext())
    cal = Calendar(CHICAGO, dt.time(17, 0), SessionHours())
    # Monday 09:00 begins the week: Monday's trading day (from Sunday 17:00) holds it
    history.set_day(cal, dt.date(2026, 3, 4), WeekStart(0, dt.time(9, 0)))
    assert history.week_first == dt.date(2026, 3, 2)
    history.set_day(cal, dt.date(2026, 3, 2), WeekStart(0, dt.time(9, 0)))
    assert history.week_first == dt.date(2026, 3, 2)
    history.set_day(cal, dt.date(2026, 3, 1), WeekStart(0, dt.time(9, 0)))  # Sunday's day
    assert history.week_first == dt.date(2026, 2, 23)


async def test_a_balance_never_reported_is_not_taken_as_a_zero_end_of_day_balance(
    tmp_path: Path,
) -> None:
    rs = account_rules()
    path = tmp_path / "state.db"
    async with SqliteStore(path) as store:
        h = await Harness(rs, store=store).start()  # type: ignore[arg-type]
        await h.feed(fill(1, at(120)), fill(2, at(121), -250, side=Side.SELL))  # no balance yet
        await h.engine.stop()
    async with SqliteStore(path) as store:  # Tuesday: Monday's reset passed while down
        h2 = await Harness(rs, start=at(DAY), store=store).start()  # type: ignore[arg-type]
        acct = h2.engine.ctx.account
        assert (acct.eod_high, acct.mll) == (50000, 48000)
        assert acct.to_mll.is_nan()  # still unknown: no rule reads a $0 account
        await h2.engine.stop()


def test_an_unknown_net_reads_unknown_in_a_message() -> None:
    from rmdsl.lang.format import format_value
    from rmdsl.lang.types import MONEY

    ctx = EvalContext()
    AccountModel(ctx).refresh()
    assert ctx.account.net.is_nan() and format_value(ctx.account.net, MONEY) == "unknown"


async def test_fills_caught_up_at_a_reconcile_are_not_counted_twice_in_net() -> None:
    """The snapshot's balance already holds the fills rmdsl missed: while they are caught up
    (each evaluated as of its time) net must not subtract a missed loss a second time."""
    from rmdsl.contract.broker import Snapshot

    h = await Harness(account_rules()).start()  # type: ignore[arg-type]
    await h.feed(balance(at(60), 50700))  # to_mll $2,700
    missed = (fill(7, at(120)), fill(8, at(121), -2000, side=Side.SELL))
    records = await h.engine.reconcile(Snapshot(balance(at(180), 48700), (), (), missed))
    await h.engine.drain()
    acct = h.engine.ctx.account
    assert (acct.net, acct.to_mll) == (48700, 700)
    assert h.engine.ctx.day.realized_pnl == -2000
    fired = [r for r in records + h.store.enforcements if r.rule_name == "guard"]
    assert fired == []
