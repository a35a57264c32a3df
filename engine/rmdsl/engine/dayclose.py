"""The engine's side of the account model and the day history: what happens at the reset, at
start, on a reload and for a late fill of the closed day (rmdsl.engine.account, .history).

At the reset the closing day's result is kept (memory and the `day_results` table, one
row per day, through the write-behind writer like every other write) and the balance at
that instant becomes the end-of-day balance: it raises account.eod_high, and with it
the trailing MLL, only then. A restart reads the kept days back (docs/engine.md,
"Day history").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from rmdsl.engine.history import epoch_ms
from rmdsl.engine.persistence import DayResultRecord, PersistedState, TradeRecord
from rmdsl.engine.windows import Fill, tally
from rmdsl.rules.model import WeekStart

if TYPE_CHECKING:
    from rmdsl.contract.events import TradeEvent
    from rmdsl.engine.history import PastFill
    from rmdsl.engine.journal import Journal
    from rmdsl.engine.state import AccountState
    from rmdsl.engine.today import Today
    from rmdsl.lang.context import DayView


def week_start(today: Today) -> WeekStart:
    """The ruleset's `week_start` (default Sunday 17:00 in its timezone)."""
    return today.ruleset.week_start


def past_fill(fill: Fill) -> PastFill:
    ts, gross, _voided, ours, fees = fill
    net = (gross if gross is not None else Decimal(0)) - fees
    return epoch_ms(ts), net, gross is not None, not ours


def _past_fills(fills: Mapping[int, Fill]) -> list[tuple[int, PastFill]]:
    return [(i, past_fill(f)) for i, f in fills.items() if not f[2]]


def _record(st: AccountState, day: dt.date, counts: DayView) -> DayResultRecord:
    model, account = st.account_model, st.ctx.account
    return DayResultRecord(
        account_id=st.account_id,
        trading_day=day,
        gross_pnl=counts.gross_pnl,
        fees=counts.fees,
        realized_pnl=counts.realized_pnl,
        trades=counts.trades,
        eod_balance=account.balance if model.balance_known else None,
        eod_high=account.eod_high,
    )


async def _keep(st: AccountState, journal: Journal, record: DayResultRecord) -> None:
    history = st.history
    history.add_day(record)
    history.prune()
    # the journal's store is the write-behind writer: this only joins the step's batch (a
    # failed commit is retried and alerted by the writer, rmdsl.engine.writer)
    await journal.persist(journal.store.record_day(record, history.keep_from()))


async def close_day(st: AccountState, journal: Journal, day: dt.date, at: dt.datetime) -> None:
    """At the reset, before today's counters clear: keep the day, take the end-of-day high."""
    st.account_model.take_eod()
    await _keep(st, journal, _record(st, day, st.ctx.day))
    st.history.add_fills(_past_fills(st.trades), at)


def opened(st: AccountState, today: Today) -> None:
    """After the reset, at start and on a reload: the params in force and the new day."""
    st.account_model.set_params(st.ctx.params)
    day = today.trading_day or today.calendar.trading_day(st.now)
    st.history.set_day(today.calendar, day, week_start(today))
    st.account_model.refresh()


async def restore(
    st: AccountState, today: Today, journal: Journal, persisted: PersistedState, now: dt.datetime
) -> None:
    """At start, after rmdsl.engine.restore: the kept days, the closed days' fills and the
    end-of-day high; a day closed while rmdsl was not running is closed now."""
    history = st.history
    history.load_days(persisted.days)
    opened(st, today)
    st.account_model.restore(history.eod_high())
    fills = [(t.trade_id, past_fill(_fill(t))) for t in persisted.recent_trades if not t.voided]
    account = persisted.account
    if account is not None and today.trading_day and account.trading_day < today.trading_day:
        # the reset passed while rmdsl was not running: the last balance it saw is the day's
        # (`net` is saved only once the gateway had reported a balance)
        if account.balance is not None and account.net is not None:
            st.ctx.account.balance = account.balance
            st.account_model.balance_known = True
        closed = {t.trade_id: _fill(t) for t in persisted.trades}
        st.account_model.take_eod()
        await _keep(st, journal, _record(st, account.trading_day, tally(closed)))
        fills += _past_fills(closed)
        opened(st, today)
    history.add_fills(fills, today.calendar.last_reset(now))
    st.account_model.refresh()


async def late_fill(
    st: AccountState, today: Today, journal: Journal, day: dt.date, ev_id: int
) -> None:
    """A fill of the closed day arrived after its reset (rmdsl.engine.daybook): its day's
    result is rewritten, its fill joins the closed days' window; today is untouched."""
    known = [r for r in st.history.days if r.trading_day == day]
    counts = tally(st.previous)
    record = _record(st, day, counts)
    if known:  # the end-of-day figures were taken at the reset: keep them
        took = known[0]
        record = dataclasses.replace(record, eod_balance=took.eod_balance, eod_high=took.eod_high)
    await _keep(st, journal, record)
    fill = st.previous.get(ev_id)
    if fill is not None:
        until = today.calendar.last_reset(st.now)
        st.history.add_fills(_past_fills({ev_id: fill}), until, drop={ev_id} if fill[2] else ())
    st.history.set_day(today.calendar, st.history.today, week_start(today))


def missed_net(st: AccountState, today: Today, missed: list[TradeEvent]) -> Decimal:
    """The net P&L of today's fills a reconcile will count for the first time: the snapshot's
    balance holds it already (rmdsl.engine.account.AccountModel.holds_missed)."""
    day = today.trading_day
    return sum(
        (
            ev.net_pnl
            for ev in missed
            if not ev.voided
            and ev.id not in st.trades
            and ev.id not in st.previous
            and today.calendar.trading_day(ev.ts) == day
        ),
        Decimal(0),
    )


def _fill(t: TradeRecord) -> Fill:
    return (t.ts, t.pnl, t.voided, t.by_rmdsl, t.fees)
