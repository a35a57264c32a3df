"""rmdsl's own closes count as money, never as the trader's trades (issue 9, section 2).

A forced close at about the entry price is a fee-sized "loss": counted as the
trader's losing trade it fed streak rules, whose cooldown's closes fed them again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

from enginekit import (
    ES,
    MNQ,
    T0,
    D,
    Harness,
    at,
    fill,
    harness,
    order,
    position,
    quote,
    rule,
    ruleset,
)

from rmdsl.contract.events import OrderEvent, OrderStatus, OrderType, Side, TradeEvent
from rmdsl.engine.origin import Origins
from rmdsl.errors import BrokerError
from rmdsl.lang.context import EvalContext
from rmdsl.lang.schema import Scope, Trigger
from rmdsl.rules.model import Action
from rmdsl.store import SqliteStore


def _two_in_a_row(c: EvalContext) -> bool:
    """The trader's rule of the issue: two losses in a row -> cooldown (no guard)."""
    return c.trade is not None and c.trade.is_close and c.day.consecutive_losses >= 2


STREAK = rule(
    "two_losses",
    _two_in_a_row,
    (Action("cooldown", {"for": 15 * 60_000}),),
    scope=Scope.TRADE,
    on=(Trigger.TRADE,),
)
MAX3 = rule(
    "max_contracts",
    lambda c: c.positions.contracts > 3,
    (Action("reduce_position", {"to": 3}),),
    on=(Trigger.POSITION, Trigger.FILL),
)


def buy(tid: int, ts: dt.datetime, size: int = 1, price: object = 21000) -> TradeEvent:
    return fill(tid, ts, None, size=size, price=price)


def sell(tid: int, ts: dt.datetime, pnl: object, size: int = 1) -> TradeEvent:
    return fill(tid, ts, pnl, side=Side.SELL, size=size)


async def four_contracts_then_reduced(h: Harness) -> None:
    """The trader buys 4 MNQ; the price ticks down; max_contracts reduces to 3 at -$0.50."""
    await h.feed(quote(at(0), 21000), order(1, at(0), size=4))
    await h.feed(buy(1, at(1), size=4))
    await h.feed(quote(at(2), "20999.75"))
    await h.feed(position(at(3), 4))


async def test_a_forced_reduce_counts_in_pnl_but_is_no_losing_trade_of_the_trader() -> None:
    h = await harness(ruleset(MAX3, STREAK))
    await four_contracts_then_reduced(h)
    assert [c.method for c in h.broker.calls] == ["partial_close"]
    day = h.engine.ctx.day
    assert day.realized_pnl == D("-0.50")  # money is money
    assert (day.trades, day.losses, day.consecutive_losses) == (0, 0, 0)
    (ours,) = [t for t in h.store.trades.values() if t.pnl is not None]
    assert ours.by_rmdsl and ours.order_id != 0


async def test_the_trader_s_loss_then_a_forced_close_does_not_make_two_in_a_row() -> None:
    """Today: the reduce's -$0.50 was the second loss in a row and locked the trader out."""
    h = await harness(ruleset(MAX3, STREAK))
    await h.feed(buy(1, at(0)), sell(2, at(1), -50))  # the trader's own loss
    assert h.engine.ctx.day.consecutive_losses == 1
    await four_contracts_then_reduced(h)
    assert h.engine.ctx.day.consecutive_losses == 1
    assert not h.engine.lockouts.active
    assert "two_losses" not in {r.rule_name for r in h.records}


async def test_a_cooldown_s_own_closes_never_fire_it_again_and_status_shows_one() -> None:
    """Two real losses lock out; each forced close during the cooldown is rmdsl's: one lockout."""
    h = await harness(ruleset(STREAK))
    await h.feed(buy(1, at(0)), sell(2, at(1), -50), buy(3, at(2)), sell(4, at(3), -60))
    assert len(h.engine.lockouts.active) == 1
    for i in range(3):  # the trader opens again and again; rmdsl closes each at a small loss
        t = at(60 + 30 * i)
        await h.feed(quote(t, 21000), buy(10 + i, t))
        await h.feed(quote(t + dt.timedelta(seconds=1), "20999.75"))
        await h.feed(position(t + dt.timedelta(seconds=2), 1))
    assert len([c for c in h.broker.calls if c.method == "close_position"]) >= 1
    assert len(h.engine.lockouts.active) == 1
    assert len(h.store.lockouts) == 1
    assert h.engine.ctx.day.consecutive_losses == 2


async def cooldown_then_three_forced_closes(h: Harness) -> None:
    """Two real losses lock out; the trader opens three times, rmdsl closes each at a loss."""
    await h.feed(buy(1, at(0)), sell(2, at(1), -50), buy(3, at(2)), sell(4, at(3), -60))
    for i in range(3):
        t = at(60 + 30 * i)
        await h.feed(quote(t, 21000), buy(10 + i, t))
        await h.feed(quote(t + dt.timedelta(seconds=1), "20999.75"))
        await h.feed(position(t + dt.timedelta(seconds=2), 1))


async def test_rmdsl_status_shows_one_lockout_after_the_cooldown_s_own_closes(
    tmp_path: Path,
) -> None:
    """Through the real store and `rmdsl status`: the issue saw the lockout three times."""
    db = tmp_path / "state.db"
    async with SqliteStore(db) as store:
        h = await harness(ruleset(STREAK), store=store)
        await cooldown_then_three_forced_closes(h)
        assert len([c for c in h.broker.calls if c.method == "close_position"]) >= 1
        await h.engine.stop()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rmdsl", "status", "--state", str(db), "--format", "json",
        "--now", at(150).isoformat(),  # inside the cooldown (the database's day, not today)
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    lockouts = json.loads(out)["lockouts"]
    assert [lk["rule"] for lk in lockouts] == ["two_losses"]


async def test_rmdsl_s_close_still_fires_the_loss_limits_it_did_not_cause() -> None:
    """Money is money: the cooldown's flatten realizes a loss past the daily limit: it locks."""
    daily = rule(
        "daily_loss",
        lambda c: c.day.realized_pnl <= D(-100),
        (Action("lockout"),),
        on=(Trigger.FILL, Trigger.TRADE),
    )
    h = await harness(ruleset(STREAK, daily))
    await h.feed(quote(at(0), 21000), buy(1, at(0), size=2), position(at(0), 2))
    await h.feed(quote(at(1), 20950))  # 2 MNQ held at -$200 open
    es = [fill(2 + i, at(2 + i), pnl, contract=ES) for i, pnl in enumerate((None, -10, None, -20))]
    await h.feed(*es)  # two ES losses in a row: the cooldown flattens 2 MNQ at -$200
    assert h.engine.ctx.day.realized_pnl == D(-230)
    assert {lk.rule_id for lk in h.engine.lockouts.active.values()} == {"two_losses", "daily_loss"}


async def test_trade_by_rmdsl_is_bound_for_trade_scoped_rules() -> None:
    seen: list[bool] = []

    def spy(c: EvalContext) -> bool:
        assert c.trade is not None
        seen.append(c.trade.by_rmdsl)
        return False

    h = await harness(ruleset(MAX3, rule("spy", spy, scope=Scope.TRADE, on=(Trigger.FILL,))))
    await four_contracts_then_reduced(h)
    assert seen == [False, True]  # the trader's buy, then rmdsl's reduce


async def test_fills_in_a_window_count_the_trader_s_fills_pnl_counts_all() -> None:
    h = await harness(ruleset(MAX3))
    await four_contracts_then_reduced(h)
    funcs = h.engine.ctx.funcs
    assert funcs.fills(60_000) == 1 and funcs.trades(60_000) == 0
    assert funcs.pnl(60_000) == D("-0.50")
    assert h.engine.ctx.session.fills == 1


async def test_by_rmdsl_survives_a_restart() -> None:
    h = await harness(ruleset(MAX3, STREAK))
    await h.feed(buy(1, at(0)), sell(2, at(1), -50))
    await four_contracts_then_reduced(h)
    await h.engine.flush()
    again = await Harness(ruleset(MAX3, STREAK), start=at(10), store=h.store).start()
    day = again.engine.ctx.day
    assert day.realized_pnl == D("-50.50")
    assert (day.losses, day.consecutive_losses) == (1, 1)


# ---- Origins: which market order is rmdsl's --------------------------------------------------
def _market(
    oid: int, side: Side = Side.SELL, status: OrderStatus = OrderStatus.PENDING
) -> OrderEvent:
    return order(oid, T0, type=OrderType.MARKET, side=side, status=status, stop=None)


def test_the_market_order_after_a_close_is_rmdsl_s_and_its_fills_follow_it() -> None:
    o = Origins()
    o.expect(MNQ, Side.SELL, T0)
    o.on_order(_market(7), T0)
    o.on_order(_market(7, status=OrderStatus.FILLED), T0)
    assert set(o.orders) == {7} and not o.expected
    part = TradeEvent(1, 1, MNQ, T0, D(1), D(-1), D(0), Side.SELL, 1, order_id=7)
    assert o.is_ours(part, T0)
    assert o.is_ours(TradeEvent(2, 1, MNQ, T0, D(1), D(-1), D(0), Side.SELL, 1, order_id=7), T0)


def test_the_trader_s_market_order_is_not_rmdsl_s() -> None:
    o = Origins()
    o.on_order(_market(8), T0)
    o.expect(MNQ, Side.SELL, T0)  # rmdsl's close after the trader's order
    assert not o.is_ours(TradeEvent(1, 1, MNQ, T0, D(1), D(-1), D(0), Side.SELL, 1, order_id=8), T0)
    assert o.expected  # still waiting for rmdsl's own order


def test_a_fill_without_an_announced_order_falls_back_to_the_open_close() -> None:
    o = Origins()
    o.expect(MNQ, Side.SELL, T0)
    wrong_side = TradeEvent(1, 1, MNQ, T0, D(1), None, D(0), Side.BUY, 1)
    assert not o.is_ours(wrong_side, T0)
    assert o.is_ours(TradeEvent(2, 1, MNQ, T0, D(1), D(-1), D(0), Side.SELL, 1), T0)
    assert not o.is_ours(TradeEvent(3, 1, MNQ, T0, D(1), D(-1), D(0), Side.SELL, 1), T0)


def test_an_expectation_expires() -> None:
    o = Origins()
    o.expect(MNQ, Side.SELL, T0)
    late = T0 + dt.timedelta(seconds=31)
    o.on_order(_market(9), late)
    assert o.orders == {}


async def test_a_rejected_close_withdraws_its_expectation() -> None:
    h = await harness(ruleset(MAX3))
    h.broker.fail = lambda method: BrokerError("rejected") if method == "partial_close" else None
    await four_contracts_then_reduced(h)
    assert h.engine.origins.expected == []


def test_a_flat_position_ends_what_was_expected_there() -> None:
    """A timed-out close that did nothing must not claim the trader's own close later."""
    o = Origins()
    o.expect(MNQ, Side.SELL, T0)
    o.flat(MNQ)
    o.on_order(_market(9), T0)
    assert o.orders == {}


def test_yesterday_s_close_orders_are_known_one_more_day() -> None:
    o = Origins()
    o.expect(MNQ, Side.SELL, T0)
    o.on_order(_market(7), T0)
    o.new_day()
    ev = TradeEvent(1, 1, MNQ, T0, D(1), D(-1), D(0), Side.SELL, 1, order_id=7)
    assert o.is_ours(ev, T0)
    o.new_day()
    assert not o.is_ours(ev, T0)


async def test_a_position_opened_under_two_lockouts_is_closed_by_the_one_lasting_longest() -> None:
    """The trader is told the real end: the day's lockout, not a 30m cooldown inside it."""
    cool = rule("cool", lambda c: c.day.losses >= 1, (Action("cooldown", {"for": 30 * 60_000}),))
    day = rule("day", lambda c: c.day.realized_pnl <= D(-500), (Action("lockout"),))
    h = await harness(ruleset(cool, day))
    await h.feed(sell(1, at(1), -600))
    assert len(h.engine.lockouts.active) == 2
    await h.feed(position(at(60), 1))
    assert h.records[-1].rule_name == "day" and h.records[-1].action == "close_position"


async def test_a_retried_close_keeps_its_cause() -> None:
    """The cooldown's first close fails; the retry's fill is still the cooldown's own."""
    from test_retry import FlakyBroker, flaky, wake_until

    from rmdsl.engine.origin import OriginBroker

    broker = FlakyBroker({"close_position": 1})
    h = await flaky(ruleset(STREAK), broker)
    h.engine.enforcer.broker = OriginBroker(broker, h.engine.origins, h.engine.state)
    await h.feed(quote(at(0), 21000), buy(1, at(0)), position(at(0), 1))
    await h.feed(quote(at(1), "20999.75"))
    es = [fill(2 + i, at(2 + i), pnl, contract=ES) for i, pnl in enumerate((None, -10, None, -20))]
    await h.feed(*es)  # two in a row: the cooldown's flatten of MNQ fails once
    await wake_until(h, 30)
    assert [c.method for c in broker.calls].count("close_position") == 2
    assert MNQ not in h.engine.state.positions
    assert len(h.engine.lockouts.active) == 1
