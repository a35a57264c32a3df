"""State from events: duplicates, voids, out-of-order events, windows, P&L and protection."""

from __future__ import annotations

import datetime as dt

import pytest
from enginekit import ES, MNQ, D, at, fill, harness, order, position, quote, ruleset

from rmdsl.contract.events import OrderStatus, OrderType, Side
from rmdsl.engine.state import AccountState, TradeResult


def test_duplicate_fill_is_not_double_counted() -> None:
    st = AccountState(1)
    assert st.apply_trade(fill(1, at(1), -100)) == TradeResult.NEW
    assert st.apply_trade(fill(1, at(1), -100)) == TradeResult.DUPLICATE
    assert st.ctx.day.realized_pnl == D(-100) and st.ctx.day.trades == 1


async def test_duplicate_fill_is_not_persisted_or_evaluated_twice() -> None:
    h = await harness(ruleset())
    await h.feed(fill(1, at(1), -100), fill(1, at(1), -100))
    assert h.store.calls.count("record_trade") == 1
    assert h.engine.ctx.day.realized_pnl == D(-100)


def test_voided_trade_reverses_its_pnl_and_counts() -> None:
    st = AccountState(1)
    st.apply_trade(fill(1, at(1), -100))
    st.apply_trade(fill(2, at(2), 50))
    assert st.apply_trade(fill(1, at(3), -100, voided=True)) == TradeResult.VOIDED
    day = st.ctx.day
    assert (day.realized_pnl, day.trades, day.wins, day.losses) == (D(50), 1, 1, 0)
    assert st.ctx.funcs.trades(3_600_000) == 1
    assert st.apply_trade(fill(1, at(4), -100, voided=True)) == TradeResult.DUPLICATE


def test_a_fill_first_seen_voided_never_counts() -> None:
    st = AccountState(1)
    st.apply_trade(fill(1, at(1), -100, voided=True))
    assert st.ctx.day.realized_pnl == 0 and st.ctx.day.trades == 0


def test_out_of_order_fills_give_the_same_day_as_in_order() -> None:
    a, b = AccountState(1), AccountState(1)
    fills = [fill(1, at(1), -10), fill(2, at(2), -20), fill(3, at(3), 30), fill(4, at(4), -5)]
    for f in fills:
        a.apply_trade(f)
    for f in (fills[3], fills[0], fills[2], fills[1]):
        b.apply_trade(f)
    assert a.ctx.day == b.ctx.day
    assert b.ctx.day.consecutive_losses == 1  # the streak follows trade time, not arrival


def test_stale_position_event_is_ignored() -> None:
    st = AccountState(1)
    st.apply_position(position(at(5), 2))
    st.apply_position(position(at(3), 0))  # older "closed" snapshot arriving late
    assert st.positions[MNQ].size == 2


def test_stale_order_update_is_ignored() -> None:
    st = AccountState(1)
    st.apply_order(order(1, at(5), status=OrderStatus.CANCELLED))
    st.apply_order(order(2, at(5)))
    st.apply_order(order(2, at(4), status=OrderStatus.CANCELLED))
    assert 2 in st.orders


def test_clock_never_goes_backwards() -> None:
    st = AccountState(1)
    assert st.advance(at(5))
    assert not st.advance(at(4))
    assert st.now == at(5)


def test_unrealized_pnl_peak_and_drawdown() -> None:
    st = AccountState(1)
    st.apply_position(position(at(0), 2, price=21000))
    st.apply_quote(quote(at(1), 21010))  # +40 ticks * 0.5 * 2 = $40
    day = st.ctx.day
    assert (day.unrealized_pnl, day.peak_pnl, day.drawdown) == (D(40), D(40), D(0))
    st.apply_quote(quote(at(2), 20995))  # -20 ticks * 0.5 * 2 = -$20
    assert (day.pnl, day.peak_pnl, day.drawdown) == (D(-20), D(40), D(60))
    assert st.ctx.positions.unrealized_pnl == D(-20)
    assert st.positions[MNQ].view.unrealized_ticks == D(-20)


def test_short_position_and_net_contracts() -> None:
    st = AccountState(1)
    st.apply_position(position(at(0), 1, long=False, price=21000))
    st.apply_position(position(at(0), 3, contract=ES, pid=2, price=5000))
    st.apply_quote(quote(at(1), 20990))
    assert st.positions[MNQ].view.unrealized_pnl == D(20)  # short gains 40 ticks * $0.5
    assert (st.ctx.positions.contracts, st.ctx.positions.net_contracts) == (4, 2)
    # the gateway names E-mini S&P contracts EP; rules see the exchange symbol ES
    assert st.ctx.funcs.contracts("ES") == 3 and st.ctx.funcs.contracts("EP") == 0


def test_a_quote_moves_the_pnl_and_leaves_the_sizes_and_exposure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A price moves no size: a quote recomputes the P&L, not the exposure (whose names read
    sizes and working orders only), which is the same afterwards as recomputed."""
    import rmdsl.engine.state as state_module
    from rmdsl.engine import exposure

    st = AccountState(1)
    st.apply_position(position(at(0), 2, price=21000))
    st.apply_position(position(at(0), 1, contract=ES, pid=2, long=False, price=5000))
    st.apply_order(order(7, at(0), type=OrderType.LIMIT, side=Side.BUY, size=3))
    pv = st.ctx.positions
    before = (pv.count, pv.contracts, pv.net_contracts, pv.exposure, pv.mini_equivalents)
    refreshed: list[object] = []
    monkeypatch.setattr(state_module.exposure, "refresh", refreshed.append)
    st.apply_quote(quote(at(1), 21010))  # MNQ +$40
    st.apply_quote(quote(at(2), 4990, contract=ES))  # ES short +$500
    assert refreshed == []
    assert (pv.unrealized_pnl, st.ctx.day.unrealized_pnl, st.ctx.day.pnl) == (D(540),) * 3
    assert (pv.count, pv.contracts, pv.net_contracts, pv.exposure, pv.mini_equivalents) == before
    monkeypatch.undo()
    exposure.refresh(st)
    assert (pv.count, pv.contracts, pv.net_contracts, pv.exposure, pv.mini_equivalents) == before


def test_a_fill_s_view_is_made_once_and_says_whose_fill_it_is() -> None:
    """Every trade-scoped rule binds the fill's view: one view per fill, not one per rule."""
    st = AccountState(1)
    mine = fill(1, at(1), -100)
    st.apply_trade(mine)
    view = st.trade_view(mine)
    assert st.trade_view(mine) is view
    assert (view.pnl, view.symbol, view.by_rmdsl) == (mine.net_pnl, "MNQ", False)
    ours = fill(2, at(2), 50)
    st.apply_trade(ours, by_rmdsl=True)
    assert st.trade_view(ours) is not view and st.trade_view(ours).by_rmdsl
    again = fill(1, at(1), -100)  # an equal event of another delivery: its own view
    assert st.trade_view(again) is not view and st.trade_view(again) == view


def test_has_stop_and_stop_ticks() -> None:
    st = AccountState(1)
    st.apply_position(position(at(0), 1, price=21000))
    view = st.positions[MNQ].view
    assert not view.has_stop
    st.apply_order(order(1, at(1), type=OrderType.LIMIT, side=Side.SELL, stop=None, limit=21010))
    assert not view.has_stop
    st.apply_order(order(2, at(1), type=OrderType.STOP_LIMIT, stop=20995, limit=20994))
    st.apply_order(order(3, at(1), type=OrderType.TRAILING_STOP, stop=20990))
    assert view.has_stop and view.stop_ticks == D(20)
    # no longer working (a filled stop would also have closed the position: see below)
    st.apply_order(order(2, at(2), type=OrderType.STOP_LIMIT, status=OrderStatus.CANCELLED))
    assert view.has_stop and view.stop_ticks == D(40)


def test_windows_count_fills_trades_losses_and_pnl() -> None:
    st = AccountState(1)
    for i, pnl in enumerate([None, -10, None, 20, -5]):
        st.apply_trade(fill(i, at(i * 60), pnl))
    st.advance(at(4 * 60))
    f = st.ctx.funcs
    assert f.fills(3_600_000) == 5 and f.trades(3_600_000) == 3
    assert f.losses(3_600_000) == 2 and f.pnl(3_600_000) == D(5)
    assert f.fills(120_000) == 2  # window (now-2m, now]: fills at 3m and 4m
    assert f.pnl(120_000) == D(15)


def test_tick_info_defaults_and_broker_override() -> None:
    st = AccountState(1)
    assert st.tick_value("MNQ") == D("0.50") and st.tick_size("CON.F.US.RTY.H26") == D("0.1")
    st.set_contract("MNQ", D("0.25"), D("2"))
    assert st.ctx.funcs.tick_value("MNQ") == D(2)
    assert st.tick_value("ZZZ") == 0


def test_reset_day_keeps_positions_and_zeroes_counters() -> None:
    st = AccountState(1)
    st.apply_position(position(at(0), 1))
    st.apply_quote(quote(at(1), 21002))
    st.apply_trade(fill(1, at(1), -100))
    st.reset_day()
    day = st.ctx.day
    assert (day.realized_pnl, day.trades, day.pnl, day.peak_pnl, day.drawdown) == (
        0,
        0,
        D(4),
        D(4),
        0,
    )
    assert MNQ in st.positions and not st.trades


def test_position_age_follows_the_clock() -> None:
    st = AccountState(1)
    st.apply_position(position(at(0), 1))
    st.advance(at(2.5))
    st.bind_ages()
    assert st.positions[MNQ].view.age == 2500
    assert dt.timedelta(seconds=1)


def test_fill_window_prefix_sums_survive_a_late_fill() -> None:
    from rmdsl.engine.windows import FillWindow

    w = FillWindow()
    for ms, net, closing in [(1000, D(-5), True), (3000, D("-0.37"), False), (4000, D(10), True)]:
        w.add(ms, net, closing)
    w.add(2000, D(-7), True)  # late
    assert (w.fills(0), w.trades(0), w.losses(0), w.pnl(0)) == (4, 3, 2, D("-2.37"))
    start = w.start(2000)  # after 2000: the fills at 3000 and 4000
    # an opening fill's fees count in the P&L, never as a losing trade
    assert (w.fills(start), w.trades(start), w.losses(start), w.pnl(start)) == (
        2,
        1,
        0,
        D("9.63"),
    )
    assert w.fills(w.start(2000, inclusive=True)) == 3


def test_the_day_keeps_compact_fills_not_trade_events() -> None:
    """Regression: every fill of the day was kept as a full TradeEvent (RSS grew per fill)."""
    st = AccountState(1)
    for i in range(1, 6):
        st.apply_trade(fill(i, at(i), -10 if i % 2 else None))
    assert all(type(v) is tuple and len(v) == 5 for v in st.trades.values())
    assert st.trades[1] == (at(1), D(-10), False, False, D(0))
    st.apply_trade(fill(3, at(3), -10, voided=True))  # a void still rebuilds the day
    assert st.ctx.day.realized_pnl == D(-20) and st.ctx.day.trades == 2
    assert st.trades[3][2] is True
