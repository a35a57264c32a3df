"""The matching model without the SDK or the network: fills, stops, P&L, fees, pushes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from rmdsl.broker.simgateway import GatewayRejection, Market, OrderRequest, Push
from rmdsl.contract.events import OrderStatus, OrderType, Side

MNQ = "CON.F.US.MNQ.Z25"
ES = "CON.F.US.EP.Z25"  # the gateway names E-mini S&P `EP`
D = Decimal


@pytest.fixture
def pushes() -> list[Push]:
    return []


@pytest.fixture
def market(pushes: list[Push]) -> Market:
    m = Market(pushes.append)
    m.add_account("A", D("50000"))
    m.set_quote(MNQ, bid=D("100.00"), ask=D("100.25"))
    m.set_quote(ES, bid=D("6000.00"), ask=D("6000.25"))
    pushes.clear()
    return m


def acct(m: Market) -> int:
    return next(m.iter_accounts()).id


def order(
    m: Market, side: Side, kind: OrderType = OrderType.MARKET, size: int = 1, **kw: Any
) -> int:
    req = OrderRequest(acct(m), kw.pop("contract", MNQ), kind, side, size, **kw)
    return m.place_order(req).id


def data(pushes: list[Push], target: str) -> list[dict[str, Any]]:
    return [p.arguments[0]["data"] for p in pushes if p.target == target]


def test_market_buy_fills_at_ask_and_sell_at_bid(market: Market, pushes: list[Push]) -> None:
    order(market, Side.BUY, size=2)
    order(market, Side.SELL, size=2)
    trades = data(pushes, "GatewayUserTrade")
    assert [t["price"] for t in trades] == [100.25, 100.00]
    assert trades[0]["profitAndLoss"] is None  # opening half-turn...
    assert trades[0]["fees"] == 0.74  # ...charged its fees too: 0.37 * 2
    # closing 2 MNQ at a 1-tick loss: 2 * -0.50 gross; the fees are apart, never netted in
    assert trades[1]["profitAndLoss"] == -1.00
    assert trades[1]["fees"] == 0.74
    assert market.accounts[acct(market)].balance == D("50000") - D("1.00") - D("0.74") * 2


def test_pushes_of_one_fill_in_gateway_order(market: Market, pushes: list[Push]) -> None:
    """As captured live: Order (6 PENDING) -> Order (2 FILLED) -> Trade -> Position -> Account."""
    oid = order(market, Side.BUY)
    targets = [p.target for p in pushes]
    assert targets == [
        "GatewayUserOrder",
        "GatewayUserOrder",
        "GatewayUserTrade",
        "GatewayUserPosition",
        "GatewayUserAccount",
    ]
    opened, filled = data(pushes, "GatewayUserOrder")
    assert (opened["id"], opened["status"]) == (oid, OrderStatus.PENDING)
    assert (filled["status"], filled["fillVolume"], filled["filledPrice"]) == (2, 1, 100.25)
    position = data(pushes, "GatewayUserPosition")[0]
    assert (position["type"], position["size"], position["averagePrice"]) == (1, 1, 100.25)
    # trades arrive as action 0 (create), updates as 1 (the live captures)
    assert all(p.arguments[0]["action"] == (p.target != "GatewayUserTrade") for p in pushes)


def test_closing_fill_pushes_size_zero_position(market: Market, pushes: list[Push]) -> None:
    order(market, Side.SELL, size=3)
    market.close_position(acct(market), MNQ)
    last = data(pushes, "GatewayUserPosition")[-1]
    assert last["size"] == 0 and last["type"] == 2
    assert market.open_positions(acct(market)) == []


def test_average_price_and_flip(market: Market, pushes: list[Push]) -> None:
    order(market, Side.BUY)  # 100.25
    market.set_quote(MNQ, bid=D("101.00"), ask=D("101.25"))
    order(market, Side.BUY)  # 101.25 -> avg 100.75
    assert market.open_positions(acct(market))[0]["averagePrice"] == 100.75
    order(market, Side.SELL, size=3)  # closes 2 at 101.00, opens 1 short
    pos = market.open_positions(acct(market))[0]
    assert (pos["type"], pos["size"], pos["averagePrice"]) == (2, 1, 101.0)
    closing = data(pushes, "GatewayUserTrade")[-1]
    # (101.00 - 100.75) * 2 contracts * $2 per point, gross; the 3 * 0.37 fees apart
    assert closing["profitAndLoss"] == 1.00
    assert closing["fees"] == 1.11


def test_es_point_value(market: Market, pushes: list[Push]) -> None:
    order(market, Side.BUY, contract=ES)
    market.set_quote(ES, bid=D("6010.00"), ask=D("6010.25"))
    market.close_position(acct(market), ES)
    # 9.75 points * $50, gross; the closing fill's 1.40 fee is reported apart
    last = data(pushes, "GatewayUserTrade")[-1]
    assert (last["profitAndLoss"], last["fees"]) == (487.5, 1.40)


def test_official_trade_search_example_is_gross() -> None:
    """The official Trade/search example: ES 6064.25 -> 6065.25, one contract: profitAndLoss
    50.00 on the closing fill, null on the opening one, fees 1.40 on each half-turn."""
    out: list[Push] = []
    m = Market(out.append)
    a = m.add_account("A", D("50000")).id
    m.set_quote("ES", price=D("6064.25"))
    m.place_order(OrderRequest(a, "ES", OrderType.MARKET, Side.BUY, 1))
    m.set_quote("ES", price=D("6065.25"))
    m.place_order(OrderRequest(a, "ES", OrderType.MARKET, Side.SELL, 1))
    trades = data(out, "GatewayUserTrade")
    assert [(t["contractId"], t["profitAndLoss"], t["fees"]) for t in trades] == [
        (ES, None, 1.40),
        (ES, 50.0, 1.40),
    ]
    assert m.accounts[a].balance == D("50000") + D("50.00") - D("2.80")


def test_es_and_nq_carry_the_gateway_roots() -> None:
    """E-mini S&P and Nasdaq are `EP` / `ENQ` in ids and symbolIds; names keep ES / NQ."""
    m = Market(lambda _: None)
    es, nq = m.resolve_contract("ES").payload(), m.resolve_contract("NQ").payload()
    assert (es["id"], es["symbolId"], es["name"]) == ("CON.F.US.EP.Z25", "F.US.EP", "ESZ5")
    assert (nq["id"], nq["symbolId"], nq["name"]) == ("CON.F.US.ENQ.Z25", "F.US.ENQ", "NQZ5")
    assert m.resolve_contract("EP") is m.resolve_contract("CON.F.US.EP.Z25")


def test_resting_limit_fills_at_limit_when_crossed(market: Market, pushes: list[Push]) -> None:
    oid = order(market, Side.BUY, OrderType.LIMIT, limit_price=D("99.00"))
    assert [o["id"] for o in market.orders(acct(market), open_only=True)] == [oid]
    market.set_quote(MNQ, bid=D("99.25"), ask=D("99.50"))
    assert data(pushes, "GatewayUserTrade") == []
    market.set_quote(MNQ, bid=D("98.50"), ask=D("98.75"))
    assert data(pushes, "GatewayUserTrade")[0]["price"] == 99.0
    assert market.orders(acct(market), open_only=True) == []


def test_marketable_limit_fills_at_the_quote(market: Market, pushes: list[Push]) -> None:
    order(market, Side.SELL, OrderType.LIMIT, limit_price=D("99.00"))
    assert data(pushes, "GatewayUserTrade")[0]["price"] == 100.0


def test_stop_triggers_when_price_crosses(market: Market, pushes: list[Push]) -> None:
    order(market, Side.BUY)
    order(market, Side.SELL, OrderType.STOP, stop_price=D("99.00"))
    market.set_quote(MNQ, price=D("99.25"))
    assert len(data(pushes, "GatewayUserTrade")) == 1
    market.set_quote(MNQ, price=D("98.75"))
    trades = data(pushes, "GatewayUserTrade")
    assert len(trades) == 2 and trades[1]["price"] == 98.75
    assert trades[1]["profitAndLoss"] == pytest.approx((98.75 - 100.25) * 2)


def test_stop_limit_arms_then_waits_for_limit(market: Market, pushes: list[Push]) -> None:
    order(market, Side.BUY, OrderType.STOP_LIMIT, stop_price=D("101.00"), limit_price=D("101.25"))
    market.set_quote(MNQ, price=D("102.00"))  # triggered, but above the limit
    assert data(pushes, "GatewayUserTrade") == []
    market.set_quote(MNQ, price=D("101.00"))
    assert data(pushes, "GatewayUserTrade")[0]["price"] == 101.25


def test_trailing_stop_follows_then_triggers(market: Market, pushes: list[Push]) -> None:
    order(market, Side.BUY)
    oid = order(market, Side.SELL, OrderType.TRAILING_STOP, trail_price=D("1.00"))
    assert market.book.orders[oid].stop_price == D("99.00")
    market.set_quote(MNQ, price=D("105.00"))
    assert market.book.orders[oid].stop_price == D("104.00")
    assert data(pushes, "GatewayUserOrder")[-1]["stopPrice"] == 104.0
    market.set_quote(MNQ, price=D("104.50"))
    assert market.book.orders[oid].status is OrderStatus.OPEN
    market.set_quote(MNQ, price=D("103.75"))
    assert market.book.orders[oid].status is OrderStatus.FILLED


def test_join_bid_rests_at_bid(market: Market) -> None:
    oid = order(market, Side.BUY, OrderType.JOIN_BID)
    assert market.book.orders[oid].limit_price == D("100.00")
    assert market.book.orders[oid].status is OrderStatus.OPEN


def test_cancel_and_modify(market: Market, pushes: list[Push]) -> None:
    oid = order(market, Side.BUY, OrderType.LIMIT, limit_price=D("90.00"))
    market.modify_order(acct(market), oid, size=3, limit_price=D("100.25"))  # now marketable
    trade = data(pushes, "GatewayUserTrade")[0]
    assert (trade["size"], trade["orderId"]) == (3, oid)
    other = order(market, Side.SELL, OrderType.LIMIT, limit_price=D("120.00"))
    market.cancel_order(acct(market), other)
    assert data(pushes, "GatewayUserOrder")[-1]["status"] == OrderStatus.CANCELLED
    with pytest.raises(GatewayRejection) as err:
        market.cancel_order(acct(market), other)
    assert err.value.code == 2


def test_can_trade_false_rejects_orders_but_allows_close(
    market: Market, pushes: list[Push]
) -> None:
    order(market, Side.BUY)
    market.set_can_trade(acct(market), False)
    assert data(pushes, "GatewayUserAccount")[-1]["canTrade"] is False
    with pytest.raises(GatewayRejection) as err:
        order(market, Side.BUY)
    assert err.value.code == 4
    market.close_position(acct(market), MNQ)
    assert market.open_positions(acct(market)) == []


def test_partial_close_and_invalid_closes(market: Market) -> None:
    order(market, Side.BUY, size=3)
    market.close_position(acct(market), "MNQ", 2)
    assert market.open_positions(acct(market))[0]["size"] == 1
    with pytest.raises(GatewayRejection):
        market.close_position(acct(market), MNQ, 5)
    market.close_position(acct(market), MNQ)
    with pytest.raises(GatewayRejection):
        market.close_position(acct(market), MNQ)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"size": 0}, "size"),
        ({"type": OrderType.LIMIT}, "Limit price"),
        ({"type": OrderType.STOP}, "Stop price"),
        ({"type": OrderType.TRAILING_STOP}, "Trail"),
        ({"type": 9}, "type"),
        ({"contract_id": "CON.F.US.XYZ.Z25"}, "Contract"),
    ],
)
def test_invalid_orders_are_rejected(market: Market, kw: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "account_id": acct(market),
        "contract_id": MNQ,
        "type": OrderType.MARKET,
        "side": Side.BUY,
        "size": 1,
    }
    fields.update(kw)
    with pytest.raises(GatewayRejection, match=message):
        market.place_order(OrderRequest(**fields))


def test_quote_push_format(market: Market, pushes: list[Push]) -> None:
    market.set_quote("MNQ", D("100.50"))
    push = pushes[-1]
    assert push.target == "GatewayQuote" and push.hub == "market"
    contract_id, quote = push.arguments
    assert contract_id == MNQ
    assert (quote["bestBid"], quote["bestAsk"], quote["lastPrice"]) == (100.5, 100.5, 100.5)
    assert quote["symbol"] == "F.US.MNQ"
