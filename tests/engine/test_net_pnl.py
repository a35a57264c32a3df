"""Net P&L (issue 10, point 1): the gateway's profitAndLoss is gross; fees come on every fill.

The official Trade/search example: ES 6064.25 -> 6065.25, one contract,
profitAndLoss 50.00 on the closing fill, null on the opening one, fees 1.40
on each half-turn. The firm judges its loss limits on net money: every P&L
name of the language is gross minus the fees of every fill (docs/language.md,
"Net P&L").
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from enginekit import ES, D, Harness, at, clock, fill, harness, position, rule, ruleset

from rmdsl.contract.events import Side, TradeEvent
from rmdsl.engine.state import AccountState, TradeResult
from rmdsl.lang.schema import Trigger
from rmdsl.rules.model import Action


def es_open(tid: int, ts: dt.datetime, size: int = 1) -> TradeEvent:
    return fill(tid, ts, None, contract=ES, size=size, price="6064.25", fees=D("1.40") * size)


def es_close(tid: int, ts: dt.datetime, gross: object, size: int = 1) -> TradeEvent:
    fees = D("1.40") * size
    return fill(tid, ts, gross, contract=ES, side=Side.SELL, size=size, fees=fees)


def test_the_official_example_nets_both_half_turns_fees() -> None:
    st = AccountState(1)
    opening, closing = es_open(1, at(1)), es_close(2, at(2), "50.00")
    st.apply_trade(opening)
    day = st.ctx.day
    assert (day.realized_pnl, day.gross_pnl, day.fees, day.trades) == (D("-1.40"), 0, D("1.40"), 0)
    st.apply_trade(closing)
    assert (day.realized_pnl, day.gross_pnl, day.fees) == (D("47.20"), D("50.00"), D("2.80"))
    assert (day.trades, day.wins, day.losses) == (1, 1, 0)
    opened, closed = st.trade_view(opening), st.trade_view(closing)
    assert (opened.pnl, opened.gross_pnl, opened.fees, opened.is_close) == (
        D("-1.40"),
        0,
        D("1.40"),
        False,
    )
    assert (closed.pnl, closed.gross_pnl, closed.fees, closed.is_close) == (
        D("48.60"),
        D("50.00"),
        D("1.40"),
        True,
    )
    # the day is the sum of every fill's trade.pnl, to the cent
    assert day.realized_pnl == opened.pnl + closed.pnl


def test_a_scratch_exit_is_a_fee_sized_losing_trade() -> None:
    st = AccountState(1)
    st.apply_trade(fill(1, at(1), None, fees="0.37"))
    st.apply_trade(fill(2, at(2), 0, side=Side.SELL, fees="0.37"))
    day = st.ctx.day
    assert (day.realized_pnl, day.losses, day.consecutive_losses, day.wins) == (
        D("-0.74"),
        1,
        1,
        0,
    )
    # a win by less than its own closing fees is a loss too; one by more is a win
    st.apply_trade(fill(3, at(3), "0.25", side=Side.SELL, fees="0.37"))
    assert (day.losses, day.consecutive_losses) == (2, 2)
    st.apply_trade(fill(4, at(4), "0.50", side=Side.SELL, fees="0.37"))
    assert (day.wins, day.consecutive_losses) == (1, 0)
    assert day.realized_pnl == D("-0.74") + D("-0.12") + D("0.13")


def test_windows_count_net_money_and_fee_losses() -> None:
    st = AccountState(1)
    st.apply_trade(fill(1, at(1), None, fees="1.11", size=3))
    st.apply_trade(fill(2, at(2), "1.50", side=Side.SELL, fees="1.11", size=3))
    st.advance(at(3))
    funcs = st.ctx.funcs
    assert funcs.pnl(60_000) == D("1.50") - D("2.22")  # -0.72: both half-turns' fees
    # the close itself netted +0.39: no losing trade (the opening fees are the day's, not its)
    assert (funcs.trades(60_000), funcs.losses(60_000), funcs.fills(60_000)) == (1, 0, 2)
    assert funcs.pnl(1_500) == D("1.50") - D("1.11")  # the opening fill is out of the window


def test_a_void_takes_the_fill_s_fees_back_too() -> None:
    st = AccountState(1)
    st.apply_trade(es_open(1, at(1)))
    st.apply_trade(es_close(2, at(2), "-100.00"))
    assert st.ctx.day.realized_pnl == D("-102.80")
    voided = dataclasses.replace(es_open(1, at(1)), voided=True)
    assert st.apply_trade(voided) == TradeResult.VOIDED
    assert (st.ctx.day.realized_pnl, st.ctx.day.fees) == (D("-101.40"), D("1.40"))


def test_a_late_fill_rebuilds_the_day_net() -> None:
    st = AccountState(1)
    st.apply_trade(es_close(2, at(5), "-25.00"))
    st.apply_trade(es_open(1, at(1)))  # arrives late: the day is rebuilt in trade time
    day = st.ctx.day
    assert (day.realized_pnl, day.gross_pnl, day.fees) == (D("-27.80"), D("-25.00"), D("2.80"))


LIMIT = rule(
    "daily_loss",
    lambda c: c.day.realized_pnl <= D(-480),
    (Action("lockout"),),
    on=(Trigger.FILL, Trigger.TRADE),
)


async def test_a_loss_limit_fires_on_net_when_gross_stays_inside_it() -> None:
    """Gross -$475.00 is inside a -$480 limit; with the fees of both half-turns (4 * 1.40) the
    day is at -$480.60: locked. The closing fill's own fees alone (-$477.80) would not do it:
    the opening fill's fees count."""
    h = await harness(ruleset(LIMIT))
    await h.feed(es_open(1, at(1), size=2), position(at(1), 2, contract=ES, price="6064.25"))
    assert not h.engine.lockouts.active
    await h.feed(es_close(2, at(2), "-475.00", size=2), position(at(2), 0, contract=ES))
    assert h.engine.ctx.day.realized_pnl == D("-480.60")
    assert h.engine.ctx.day.gross_pnl == D("-475.00")
    assert [r.rule_name for r in h.records] == ["daily_loss"]
    assert h.engine.lockouts.account_locked


async def test_a_restart_recomputes_net_from_the_stored_gross_and_fees() -> None:
    h = await harness(ruleset())
    await h.feed(es_open(1, at(1), size=2), es_close(2, at(2), "25.00", size=2))
    await h.feed(fill(3, at(3), None, fees="0.37"))
    stored = {t.trade_id: (t.pnl, t.fees) for t in h.store.trades.values()}
    assert stored == {1: (None, D("2.80")), 2: (D("25.00"), D("2.80")), 3: (None, D("0.37"))}
    await h.engine.stop()
    h2 = await Harness(h.engine.ruleset, start=at(10), store=h.store).start()
    day = h2.engine.ctx.day
    assert (day.realized_pnl, day.gross_pnl, day.fees) == (D("19.03"), D("25.00"), D("5.97"))
    assert (day.trades, day.wins) == (1, 1)


async def test_a_late_fill_s_closed_day_is_recounted_net() -> None:
    """A fill stamped before the reset and delivered after it lands in its own day's row:
    that row's realized P&L is recounted net of every fill's fees (rmdsl.engine.daybook)."""
    h = await harness(ruleset(), start=at(0))
    await h.feed(es_open(1, at(1)))
    reset = h.engine.next_reset
    assert reset is not None
    await h.feed(clock(reset + dt.timedelta(seconds=1)))
    old_day = h.engine.calendar.trading_day(at(1))
    assert h.engine.trading_day != old_day
    await h.feed(es_close(2, reset - dt.timedelta(milliseconds=100), "-50.00"))
    assert h.store.days[(1, old_day)].realized_pnl == D("-52.80")
    assert h.engine.ctx.day.realized_pnl == 0


async def test_an_opening_fill_s_fees_can_cross_the_limit_and_its_position_is_closed() -> None:
    h = await harness(ruleset(LIMIT))
    await h.feed(
        fill(1, at(1), None, fees="0.37"), fill(2, at(2), -479, side=Side.SELL, fees="0.37")
    )
    assert h.engine.ctx.day.realized_pnl == D("-479.74") and not h.engine.lockouts.active
    await h.feed(fill(3, at(3), None, fees="0.37"), position(at(3), 1))  # the trader opens again
    assert h.engine.ctx.day.realized_pnl == D("-480.11")
    assert h.engine.lockouts.account_locked
    assert h.calls() == ["close_position"]  # the position that fill opened
