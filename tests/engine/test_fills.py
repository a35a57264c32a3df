"""One fill told by its Order, its Trade and its Position: counted once (rmdsl.engine.fills)."""

from __future__ import annotations

from enginekit import MNQ, D, at, position

from rmdsl.contract.events import OrderEvent, OrderStatus, OrderType, Side, TradeEvent
from rmdsl.engine.state import AccountState


def sell_order(volume: int, size: int = 3, status: OrderStatus = OrderStatus.OPEN) -> OrderEvent:
    return OrderEvent(
        11, 1, MNQ, at(1), status, OrderType.LIMIT, Side.SELL, size, D(21010),
        fill_volume=volume,
    )  # fmt: skip


def sell_fill(tid: int, size: int, order_id: int = 11) -> TradeEvent:
    return TradeEvent(tid, 1, MNQ, at(1), D(21010), D(5), D(0), Side.SELL, size, order_id=order_id)


def state_long(size: int) -> AccountState:
    st = AccountState(1)
    st.apply_position(position(at(0), size))
    return st


def test_the_order_and_the_trade_of_one_fill_count_once_whichever_comes_first() -> None:
    for first_order in (True, False):
        st = state_long(3)
        events = [sell_order(1), sell_fill(1, 1)]
        for ev in events if first_order else events[::-1]:
            st.apply_order(ev) if isinstance(ev, OrderEvent) else st.apply_trade(ev)
            assert st.positions[MNQ].size == 2
        st.apply_position(position(at(1), 2))
        assert st.positions[MNQ].size == 2


def test_a_position_first_is_not_shrunk_again_by_its_fill() -> None:
    st = state_long(3)
    st.apply_position(position(at(1), 2))  # the fill's Position came first
    st.apply_trade(sell_fill(1, 1))
    st.apply_order(sell_order(1))
    assert st.positions[MNQ].size == 2
    st.apply_trade(sell_fill(2, 1))  # the next fill, its trade first this time: applied
    assert st.positions[MNQ].size == 1


def test_a_position_event_that_no_fill_explains_does_not_swallow_the_next_fill() -> None:
    st = state_long(3)
    st.apply_position(position(at(1), 3))  # a repeat: no change, no credit
    st.apply_trade(sell_fill(1, 1))
    assert st.positions[MNQ].size == 2


def test_a_trade_completing_an_order_ends_it() -> None:
    st = state_long(3)
    st.apply_order(sell_order(0, size=2))
    st.apply_trade(sell_fill(1, 1))
    assert 11 in st.orders  # 1 of 2 filled: still working
    st.apply_trade(sell_fill(2, 1))
    assert 11 not in st.orders and st.positions[MNQ].size == 1


def test_a_snapshot_order_partly_filled_is_not_counted_again() -> None:
    """After a restart the snapshot's positions hold what its working orders filled so far."""
    st = state_long(2)  # 3 long, 1 of a 3-lot sell filled before the restart
    st.replace_orders((sell_order(1),))
    assert st.positions[MNQ].size == 2
    st.apply_order(sell_order(3, status=OrderStatus.FILLED))  # the other 2
    assert MNQ not in st.positions


def test_a_late_event_of_a_fill_the_snapshot_holds_adds_nothing() -> None:
    """A fill seen live, then a snapshot (reconnect) that holds it: its FILLED order coming
    late does not shrink the snapshot's position again."""
    st = state_long(3)
    st.apply_trade(sell_fill(1, 1))  # seen live: 2 left
    st.replace_positions((position(at(2), 2),))
    st.replace_orders(())
    st.apply_order(sell_order(1, size=1, status=OrderStatus.FILLED))
    assert st.positions[MNQ].size == 2
