"""Property: however the simulated gateway shapes its pushes (partial updates, deletes), the
account state rmdsl builds from them is the one it builds from complete updates."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rmdsl.broker.decode.partial import GatewayDecoder
from rmdsl.broker.simgateway import Market, OrderRequest
from rmdsl.broker.simgateway.orders import GatewayRejection
from rmdsl.broker.simgateway.wire import WireShaper, WireStyle
from rmdsl.contract.events import AccountEvent, OrderEvent, PositionEvent
from rmdsl.engine.state import AccountState

STEP = st.one_of(
    st.tuples(st.just("buy"), st.integers(1, 3)),
    st.tuples(st.just("sell"), st.integers(1, 3)),
    st.tuples(st.just("stop"), st.integers(1, 2)),
    st.tuples(st.just("cancel"), st.just(0)),
    st.tuples(st.just("close"), st.just(0)),
    st.tuples(st.just("quote"), st.integers(-8, 8)),
    st.tuples(st.just("can_trade"), st.booleans()),
)


def _state(style: WireStyle, steps: list[tuple[str, Any]]) -> tuple[object, ...]:
    shaper, decoder = WireShaper(style), GatewayDecoder()
    market_ref: list[Market] = []
    state = AccountState(7001)

    def sink(push: Any) -> None:
        if push.target == "GatewayQuote":
            return
        event = decoder.decode(
            push.target, shaper.shape(push).arguments[0], market_ref[0].clock.now()
        )
        if isinstance(event, PositionEvent):
            state.apply_position(event)
        elif isinstance(event, OrderEvent):
            state.apply_order(event)
        elif isinstance(event, AccountEvent):
            state.apply_account(event)

    market = Market(sink)
    market_ref.append(market)
    acc = market.add_account("PRAC-1", Decimal(50_000))
    market.set_can_trade(acc.id, True)
    es = market.resolve_contract("ES").contract_id
    for kind, arg in steps:
        try:
            _step(market, acc.id, es, kind, arg)
        except GatewayRejection:
            pass  # a refused step changes nothing, in both runs alike
    positions = sorted(
        (p.contract_id, p.long, p.size, p.avg_price) for p in state.positions.values()
    )
    account = state.ctx.account
    return (positions, sorted(state.orders), account.balance, account.can_trade)


def _step(market: Market, acc: int, es: str, kind: str, arg: Any) -> None:
    price = market.quotes[es].last
    if kind in ("buy", "sell"):
        market.place_order(OrderRequest(acc, es, 2, 0 if kind == "buy" else 1, arg))
    elif kind == "stop":
        market.place_order(OrderRequest(acc, es, 4, 1, arg, stop_price=price - 4))
    elif kind == "cancel":
        working = [o.id for o in market.book.for_account(acc, open_only=True)]
        if working:
            market.cancel_order(acc, working[-1])
    elif kind == "close":
        market.close_position(acc, es)
    elif kind == "quote":
        market.set_quote(es, price + Decimal(arg) / 4)
    else:
        market.set_can_trade(acc, bool(arg))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(STEP, max_size=14),
    st.builds(
        WireStyle,
        partial=st.booleans(),
        delete_closed_positions=st.booleans(),
        delete_finished_orders=st.booleans(),
    ),
)
def test_state_does_not_depend_on_the_wire_style(
    steps: list[tuple[str, Any]], style: WireStyle
) -> None:
    assert _state(style, steps) == _state(WireStyle(), steps)
