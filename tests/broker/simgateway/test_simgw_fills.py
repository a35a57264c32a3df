"""What the simulated gateway does as the real one does (docs/simgateway.md): unique customTags,
a fill's events in the live order or shuffled, partial fills and flips, and the close answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from rmdsl.broker.simgateway import GatewayRejection, Market, OrderRequest, Push, SimGateway
from rmdsl.broker.simgateway.orders import TagReuse
from rmdsl.contract.events import OrderStatus, OrderType, Side

MNQ = "CON.F.US.MNQ.Z25"
D = Decimal
FILL = ["GatewayUserOrder", "GatewayUserTrade", "GatewayUserPosition", "GatewayUserAccount"]


def market(pushes: list[Push], **kw: Any) -> Market:
    m = Market(pushes.append, **kw)
    m.add_account("A", D("50000"))
    m.set_quote(MNQ, bid=D("100.00"), ask=D("100.25"))
    pushes.clear()
    return m


def req(m: Market, side: Side, size: int = 1, **kw: Any) -> OrderRequest:
    acct = next(m.iter_accounts()).id
    return OrderRequest(acct, MNQ, kw.pop("type", OrderType.MARKET), side, size, **kw)


def data(pushes: list[Push], target: str) -> list[dict[str, Any]]:
    return [p.arguments[0]["data"] for p in pushes if p.target == target]


# -- customTag ---------------------------------------------------------------------------------


def test_a_reused_custom_tag_is_rejected_on_the_same_account_only() -> None:
    pushes: list[Push] = []
    m = market(pushes)
    m.place_order(req(m, Side.BUY, custom_tag="rmdsl:stop"))
    with pytest.raises(GatewayRejection) as info:
        m.place_order(req(m, Side.BUY, custom_tag="rmdsl:stop"))
    assert info.value.code == 2 and "already in use" in info.value.message
    other = m.add_account("B").id
    m.place_order(OrderRequest(other, MNQ, OrderType.MARKET, Side.BUY, 1, custom_tag="rmdsl:stop"))
    m.place_order(req(m, Side.BUY))  # no tag: never a reuse
    m.place_order(req(m, Side.BUY))


def test_the_tag_of_a_rejected_order_is_burnt_too() -> None:
    pushes: list[Push] = []
    m = market(pushes)
    with pytest.raises(GatewayRejection):  # no stop price: rejected, tag claimed all the same
        m.place_order(req(m, Side.SELL, type=OrderType.STOP, custom_tag="t-1"))
    with pytest.raises(GatewayRejection) as info:
        m.place_order(req(m, Side.SELL, type=OrderType.STOP, stop_price=D(99), custom_tag="t-1"))
    assert "already in use" in info.value.message


def test_the_tag_reuse_answer_is_settable() -> None:
    pushes: list[Push] = []
    m = market(pushes, tag_reuse=TagReuse(code=7, message="Duplicate tag"))
    m.place_order(req(m, Side.BUY, custom_tag="x"))
    with pytest.raises(GatewayRejection) as info:
        m.place_order(req(m, Side.BUY, custom_tag="x"))
    assert (info.value.code, info.value.message) == (7, "Duplicate tag: x")


# -- the events of one fill --------------------------------------------------------------------


def test_a_market_fill_sends_order_pending_then_the_live_order() -> None:
    pushes: list[Push] = []
    m = market(pushes)
    m.place_order(req(m, Side.BUY))
    assert [p.target for p in pushes] == ["GatewayUserOrder", *FILL]
    assert [o["status"] for o in data(pushes, "GatewayUserOrder")] == [6, 2]


def test_a_seed_shuffles_the_user_events_of_each_fill_reproducibly() -> None:
    orders = []
    for seed in (1, 1, 2, 3, 4):
        pushes: list[Push] = []
        m = market(pushes, shuffle_seed=seed)
        for _ in range(3):
            m.place_order(req(m, Side.BUY))
        targets = [p.target for p in pushes if p.target != "GatewayQuote"]
        groups = [targets[i + 1 : i + 5] for i in range(0, len(targets), 5)]
        assert all(sorted(g) == sorted(FILL) for g in groups)  # a fill's events stay together
        orders.append(groups)
    assert orders[0] == orders[1]  # the same seed: the same order
    assert any(groups != [FILL] * 3 for groups in orders[2:])


# -- partial fills and flips -----------------------------------------------------------------


def test_partial_fills_step_the_fill_volume_one_trade_each() -> None:
    pushes: list[Push] = []
    m = market(pushes)
    m.split_next_fill([1, 2, 5])  # past the order's size: cut to it
    order = m.place_order(req(m, Side.BUY, 4))
    steps = [(o["status"], o["fillVolume"]) for o in data(pushes, "GatewayUserOrder")]
    assert steps == [(6, 0), (1, 1), (1, 3), (2, 4)]
    assert [t["size"] for t in data(pushes, "GatewayUserTrade")] == [1, 2, 1]
    assert {t["orderId"] for t in data(pushes, "GatewayUserTrade")} == {order.id}
    assert [p["size"] for p in data(pushes, "GatewayUserPosition")] == [1, 3, 4]
    assert order.status is OrderStatus.FILLED and order.filled_price == D("100.25")


def test_the_status_of_a_partly_filled_order_is_settable() -> None:
    pushes: list[Push] = []
    m = market(pushes, partial_status=OrderStatus.PENDING)
    m.split_next_fill([1])
    m.place_order(req(m, Side.BUY, 2))
    assert [o["status"] for o in data(pushes, "GatewayUserOrder")] == [6, 6, 2]


def test_a_flip_in_one_order_closes_and_opens() -> None:
    pushes: list[Push] = []
    m = market(pushes)
    m.place_order(req(m, Side.BUY, 2))
    pushes.clear()
    m.split_next_fill([1, 2])
    m.place_order(req(m, Side.SELL, 3))
    trades = data(pushes, "GatewayUserTrade")
    assert [(t["size"], t["profitAndLoss"] is None) for t in trades] == [(1, False), (2, False)]
    positions = [(p["type"], p["size"]) for p in data(pushes, "GatewayUserPosition")]
    assert positions == [(1, 1), (2, 1)]  # long 1 left, then short 1 (the flip)
    assert m.open_positions(next(m.iter_accounts()).id)[0]["averagePrice"] == 100.0


# -- closeContract / partialCloseContract ------------------------------------------------------


async def post(gw: SimGateway, path: str, body: Any, token: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.api_url + path, json=body, headers=headers) as resp:
            return await resp.json()


async def test_close_answers_without_an_order_id_and_leaves_working_orders(gw: SimGateway) -> None:
    token = (await post(gw, "/Auth/loginKey", {"userName": "u", "apiKey": "k" * 12}, ""))["token"]
    acct = gw.account_id
    gw.trader_place("MNQ", "buy", "market", 3)
    stop = gw.trader_place("MNQ", "sell", "stop", 3, stop_price="20900")
    target = gw.trader_place("MNQ", "sell", "limit", 3, limit_price="21100")
    partial = await post(
        gw,
        "/Position/partialCloseContract",
        {"accountId": acct, "contractId": MNQ, "size": 1},
        token,
    )
    close = await post(gw, "/Position/closeContract", {"accountId": acct, "contractId": MNQ}, token)
    for answer in (partial, close):
        assert answer == {"success": True, "errorCode": 0, "errorMessage": None}
    assert gw.position_size("MNQ") == 0
    assert {o.id for o in gw.market.book.working(MNQ)} == {stop.id, target.id}


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/Position/closeContract", {"contractId": MNQ}, 2),  # PositionNotFound
        ("/Position/closeContract", {"contractId": "CON.F.US.XX.Z25"}, 3),  # ContractNotFound
        ("/Position/partialCloseContract", {"contractId": MNQ, "size": 5}, 5),  # InvalidCloseSize
        ("/Position/closeContract", {"contractId": MNQ, "accountId": 1}, 1),  # AccountNotFound
    ],
)
async def test_close_error_codes(
    gw: SimGateway, path: str, body: dict[str, Any], code: int
) -> None:
    token = (await post(gw, "/Auth/loginKey", {"userName": "u", "apiKey": "k" * 12}, ""))["token"]
    if code == 5:
        gw.trader_place("MNQ", "buy", "market", 2)
    answer = await post(gw, path, {"accountId": gw.account_id, **body}, token)
    assert (answer["success"], answer["errorCode"]) == (False, code)
    assert "orderId" not in answer


async def test_rejected_closes_use_each_endpoints_code(gw: SimGateway) -> None:
    token = (await post(gw, "/Auth/loginKey", {"userName": "u", "apiKey": "k" * 12}, ""))["token"]
    gw.reject_close()
    body = {"accountId": gw.account_id, "contractId": MNQ, "size": 1}
    close = await post(gw, "/Position/closeContract", body, token)
    partial = await post(gw, "/Position/partialCloseContract", body, token)
    assert (close["errorCode"], partial["errorCode"]) == (8, 9)  # AccountRejected of each


async def test_an_ignored_close_answers_success_and_does_nothing(gw: SimGateway) -> None:
    token = (await post(gw, "/Auth/loginKey", {"userName": "u", "apiKey": "k" * 12}, ""))["token"]
    gw.trader_place("MNQ", "buy", "market", 1)
    gw.ignore_close()
    body = {"accountId": gw.account_id, "contractId": MNQ}
    assert (await post(gw, "/Position/closeContract", body, token))["success"] is True
    assert gw.position_size("MNQ") == 1
    assert (await post(gw, "/Position/closeContract", body, token))["success"] is True
    assert gw.position_size("MNQ") == 0
