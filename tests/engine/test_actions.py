"""Every action turns into the right broker calls (recording broker, virtual clock)."""

from __future__ import annotations

from decimal import Decimal

from enginekit import ES, MNQ, D, at, fill, harness, order, position, quote, rule, ruleset

from rmdsl.contract.events import OrderType, Side
from rmdsl.lang.schema import Scope, Trigger, UntilKind
from rmdsl.rules.model import Action

POS = (Trigger.POSITION, Trigger.QUOTE)


def big(do: tuple[Action, ...], scope: Scope = Scope.POSITION) -> object:
    return rule("big", lambda c: c.positions.contracts > 3, do, scope=scope, on=POS)


async def test_close_position_closes_the_scoped_position_only() -> None:
    rs = ruleset(
        rule(
            "loser",
            lambda c: c.position is not None and c.position.unrealized_pnl <= D(-50),
            (Action("close_position"),),
            scope=Scope.POSITION,
            on=POS,
        )
    )
    h = await harness(rs)
    await h.feed(position(at(1), 1), position(at(1), 1, contract=ES, pid=2))
    await h.feed(quote(at(2), 20900))  # MNQ long 1: -100 ticks*0.5 = -$50
    assert [c.describe() for c in h.broker.calls] == [f"close_position({MNQ})"]
    assert ES in h.engine.state.positions


async def test_reduce_position_partially_closes_down_to_n() -> None:
    rs = ruleset(big((Action("reduce_position", {"to": 3}),)))
    h = await harness(rs)
    await h.feed(position(at(1), 5))
    assert [c.describe() for c in h.broker.calls] == [f"partial_close({MNQ}, 2)"]
    assert h.engine.state.positions[MNQ].size == 3


async def test_reduce_position_account_scope_cuts_newest_first() -> None:
    rs = ruleset(big((Action("reduce_position", {"to": 3}),), scope=Scope.ACCOUNT))
    h = await harness(rs)
    await h.feed(position(at(1), 2), position(at(2), 1, contract=ES, pid=2))
    await h.feed(position(at(3), 3))  # MNQ grows to 3: gross 4
    assert [c.describe() for c in h.broker.calls] == [f"close_position({ES})"]


async def test_flatten_closes_everything_and_cancels_every_order() -> None:
    rs = ruleset(rule("fl", lambda c: c.day.realized_pnl < 0, (Action("flatten"),)))
    h = await harness(rs)
    await h.feed(position(at(1), 1), position(at(1), 1, contract=ES, pid=2), order(7, at(1)))
    await h.feed(fill(1, at(2), -10))
    assert sorted(c.describe() for c in h.broker.calls) == sorted(
        [f"close_position({MNQ})", f"close_position({ES})", "cancel_order(7)"]
    )
    assert not h.engine.state.positions and not h.engine.state.orders


async def test_cancel_orders_order_scope_cancels_that_order() -> None:
    rs = ruleset(
        rule(
            "no_big_orders",
            lambda c: c.order is not None and c.order.size > 2,
            (Action("cancel_orders"),),
            scope=Scope.ORDER,
            on=(Trigger.ORDER,),
        )
    )
    h = await harness(rs)
    await h.feed(order(1, at(1), size=1), order(2, at(2), size=3))
    assert [c.describe() for c in h.broker.calls] == ["cancel_order(2)"]


async def test_lockout_flattens_and_blocks() -> None:
    lock = Action("lockout", {"until": UntilKind.RESET})
    rs = ruleset(rule("lk", lambda c: c.day.losses >= 1, (lock,)))
    h = await harness(rs)
    await h.feed(position(at(1), 1), fill(1, at(2), -1))
    assert h.calls() == ["close_position"]
    (lk,) = h.engine.lockouts.active.values()
    assert lk.until_ts.isoformat() == "2026-03-02T23:00:00+00:00"  # 17:00 CST
    assert list(h.store.lockouts) == [lk.id]


async def test_cooldown_is_a_lockout_for_a_duration() -> None:
    rs = ruleset(
        rule("cool", lambda c: c.day.losses >= 1, (Action("lockout", {"until": 300_000}),))
    )
    h = await harness(rs)
    await h.feed(fill(1, at(2), -1))
    (lk,) = h.engine.lockouts.active.values()
    assert lk.until_ts == at(302)


async def test_block_symbol_closes_and_blocks_only_that_symbol() -> None:
    rs = ruleset(
        rule(
            "blk",
            lambda c: c.trade is not None and c.trade.pnl <= D(-100),
            (Action("block_symbol", {"until": UntilKind.RESET}),),
            scope=Scope.TRADE,
            on=(Trigger.TRADE,),
        )
    )
    h = await harness(rs)
    await h.feed(position(at(1), 1), position(at(1), 1, contract=ES, pid=2))
    await h.feed(fill(1, at(2), -100))
    assert [c.describe() for c in h.broker.calls] == [f"close_position({MNQ})"]
    await h.feed(position(at(3), 1, contract=ES, pid=2, price=5000))
    await h.feed(position(at(4), 1))
    assert [c.describe() for c in h.broker.calls][1:] == [f"close_position({MNQ})"]


async def test_attach_stop_places_a_stop_on_the_closing_side() -> None:
    rs = ruleset(
        rule(
            "auto_stop",
            lambda c: c.position is not None and not c.position.has_stop,
            (Action("attach_stop", {"ticks": 20}),),
            scope=Scope.POSITION,
            on=(Trigger.POSITION,),
        )
    )
    h = await harness(rs)
    await h.feed(position(at(1), 2, long=False))
    (call,) = h.broker.calls
    assert call.method == "place_order"
    assert call.kwargs["side"] == "buy" and call.kwargs["size"] == 2
    assert call.kwargs["stop_price"] == Decimal("21005.00")  # short: 20 ticks of 0.25 above
    assert h.engine.state.positions[MNQ].view.has_stop


async def test_attach_stop_never_loosens_an_existing_stop() -> None:
    rs = ruleset(
        rule(
            "auto_stop",
            lambda c: c.position is not None,
            (Action("attach_stop", {"ticks": 40}),),
            scope=Scope.POSITION,
            on=(Trigger.POSITION,),
        )
    )
    h = await harness(rs)
    await h.feed(order(3, at(0), stop=20995), position(at(1), 1))  # existing stop 20 ticks away
    assert h.broker.calls == []
    assert h.records[-1].outcome == "skipped"


async def test_attach_target_places_a_limit() -> None:
    rs = ruleset(
        rule(
            "tgt",
            lambda c: c.position is not None,
            (Action("attach_target", {"ticks": 8}),),
            scope=Scope.POSITION,
            on=(Trigger.POSITION,),
        )
    )
    h = await harness(rs)
    await h.feed(position(at(1), 1))
    (call,) = h.broker.calls
    assert call.kwargs["type"] == "limit" and call.kwargs["limit_price"] == Decimal("21002.00")


async def test_trail_stop_moves_the_stop_up_and_never_down() -> None:
    rs = ruleset(
        rule(
            "trail",
            lambda c: c.position is not None and c.position.unrealized_ticks >= 0,
            (Action("trail_stop", {"ticks": 8, "after": 4}),),
            scope=Scope.POSITION,
            on=(Trigger.QUOTE,),
        )
    )
    h = await harness(rs)
    await h.feed(position(at(1), 1), order(3, at(1), stop=20990))
    await h.feed(quote(at(2), 21005))  # 20 ticks in profit: stop to 21003
    assert [c.describe() for c in h.broker.calls] == ["modify_order(3, stop_price=21003.00)"]
    h.engine.evaluator.latched.clear()
    await h.feed(quote(at(3), 21002))  # would be 21000: looser, refused
    assert len(h.broker.calls) == 1
    assert h.records[-1].outcome == "skipped"


async def test_alert_only_notifies() -> None:
    rs = ruleset(rule("warn", lambda c: c.day.trades >= 1, (Action("alert"),)))
    h = await harness(rs)
    await h.feed(fill(1, at(1), 5))
    assert h.broker.calls == []
    assert h.notifier.titles() == ["rule warn"]
    assert h.records[0].outcome == "ok"


async def test_side_is_a_closing_sell_for_a_long() -> None:
    rs = ruleset(rule("x", lambda c: c.day.trades >= 1, (Action("flatten"),)))
    h = await harness(rs)
    await h.feed(position(at(1), 1), quote(at(1), 21010), fill(1, at(2), 5))
    closing = [t for t in h.store.trades.values() if t.trade_id > 900_000_000]
    assert closing[0].side == Side.SELL.word and closing[0].pnl == D("20.00")  # 40 ticks * $0.50
    assert OrderType.STOP.is_stop
