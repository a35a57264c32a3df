"""The real project-x-py SDK against the simulated gateway, configured only through its env."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from project_x_py import EventBus, OrderManager, PositionManager, ProjectX
from project_x_py.config import ConfigManager
from project_x_py.exceptions import ProjectXError, ProjectXOrderError
from project_x_py.realtime import ProjectXRealtimeClient

from rmdsl.broker.simgateway import SimGateway

pytestmark = pytest.mark.e2e
MNQ = "CON.F.US.MNQ.Z25"


@pytest.fixture
async def client(sdk_env: SimGateway) -> AsyncIterator[Any]:
    config = ConfigManager().load_config()
    async with ProjectX.from_env(config=config) as c:
        await c.authenticate()
        yield c


class Inbox:
    """Collects realtime callbacks per event name; waits for the n-th one."""

    def __init__(self) -> None:
        self.events: dict[str, list[Any]] = {}
        self._changed = asyncio.Event()

    def handler(self, name: str) -> Any:
        async def on_event(data: Any) -> None:
            self.events.setdefault(name, []).append(data)
            self._changed.set()

        return on_event

    async def wait(self, name: str, count: int = 1, timeout: float = 5.0) -> list[Any]:
        async with asyncio.timeout(timeout):
            while len(self.events.get(name, [])) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.events[name]


@pytest.fixture
async def realtime(client: Any, gw: SimGateway) -> AsyncIterator[tuple[Any, Inbox]]:
    rt = ProjectXRealtimeClient(
        jwt_token=client.get_session_token(),
        account_id=str(client.get_account_info().id),
        config=ConfigManager().load_config(),
    )
    inbox = Inbox()
    for name in ("trade_execution", "order_update", "position_update", "account_update"):
        await rt.add_callback(name, inbox.handler(name))
    await rt.add_callback("quote_update", inbox.handler("quote_update"))
    assert await rt.connect()
    assert await rt.subscribe_user_updates()
    assert await rt.subscribe_market_data([MNQ])
    await gw.wait_for_subscription("market", "SubscribeContractMarketDepth")
    try:
        yield rt, inbox
    finally:
        await rt.cleanup()


async def test_rest_surface(client: Any, gw: SimGateway) -> None:
    account = client.get_account_info()
    assert (account.id, account.name, account.canTrade) == (gw.account_id, "PRAC-SIM-1", True)
    assert [a.id for a in await client.list_accounts()] == [gw.account_id]
    instrument = await client.get_instrument("MNQ")
    assert (instrument.id, instrument.tickSize, instrument.tickValue) == (MNQ, 0.25, 0.5)
    assert (await client.get_instrument("CON.F.US.EP.Z25")).tickValue == 12.5
    assert len(await client.list_available_contracts()) == 8
    assert await client.ping() == "pong"
    assert await client.validate_session()
    bars = await client.get_bars("MNQ", days=1, interval=1)
    assert 0 < len(bars) <= 20
    login = gw.requests.calls("/Auth/loginKey")[0]
    assert login.body == {"userName": "sim-user", "apiKey": "sim-api-key-0123456789"}


async def test_market_order_shows_as_position_and_trade(client: Any, gw: SimGateway) -> None:
    orders = OrderManager(client, EventBus())
    response = await orders.place_market_order(MNQ, side=0, size=2)
    assert response.success and response.orderId > 0
    positions = await client.search_open_positions()
    assert [(p.contractId, p.type, p.size) for p in positions] == [(MNQ, 1, 2)]
    trades = await client.search_trades()
    assert [(t.orderId, t.size, t.profitAndLoss) for t in trades] == [(response.orderId, 2, None)]
    order = await orders.get_order_by_id(response.orderId)
    assert order is not None and order.status == 2
    assert gw.position_size("MNQ") == 2


async def test_realtime_events_after_a_ui_fill(realtime: tuple[Any, Inbox], gw: SimGateway) -> None:
    _, inbox = realtime
    order = gw.trader_place("MNQ", "buy", "market", 1)
    trade = (await inbox.wait("trade_execution"))[0]
    assert trade["action"] == 0  # the SDK hands the envelope on as is; trades are creates
    assert (trade["data"]["orderId"], trade["data"]["price"]) == (order.id, 21000.0)
    position = (await inbox.wait("position_update"))[0]["data"]
    assert (position["contractId"], position["size"], position["type"]) == (MNQ, 1, 1)
    statuses = [e["data"]["status"] for e in await inbox.wait("order_update", 2)]
    assert statuses == [6, 2]  # a market order starts PENDING
    balance = (await inbox.wait("account_update"))[0]["data"]["balance"]
    assert balance == pytest.approx(50000 - 0.37)
    gw.set_quote("MNQ", 21001.25)
    quote = (await inbox.wait("quote_update"))[-1]
    assert quote["contract_id"] == MNQ and quote["data"]["lastPrice"] == 21001.25


async def test_close_position_via_sdk_goes_flat(client: Any, gw: SimGateway) -> None:
    gw.trader_place("MNQ", "sell", "market", 3)
    positions = PositionManager(client, EventBus())
    result = await positions.close_position_direct(MNQ)
    assert result["success"] is True
    assert gw.position_size("MNQ") == 0
    assert [r.body for r in gw.requests.calls("/Position/closeContract")] == [
        {"accountId": gw.account_id, "contractId": MNQ}
    ]
    assert await client.search_open_positions() == []


async def test_stop_order_triggers_on_quote(
    client: Any, realtime: tuple[Any, Inbox], gw: SimGateway
) -> None:
    _, inbox = realtime
    orders = OrderManager(client, EventBus())
    await orders.place_market_order(MNQ, side=0, size=1)
    stop = await orders.place_stop_order(MNQ, side=1, size=1, stop_price=20990.0)
    assert [o.id for o in await orders.search_open_orders()] == [stop.orderId]
    gw.set_quote("MNQ", 20989.75)
    trades = await inbox.wait("trade_execution", 2)
    closing = trades[1]["data"]
    assert (closing["orderId"], closing["price"]) == (stop.orderId, 20989.75)
    # gross, as the real gateway: the fees of each half-turn come apart
    assert (closing["profitAndLoss"], closing["fees"]) == (-10.25 * 2, 0.37)
    assert trades[0]["data"]["fees"] == 0.37  # the opening fill is charged too
    assert gw.position_size("MNQ") == 0


async def test_injected_errors_surface_as_sdk_errors(client: Any, gw: SimGateway) -> None:
    orders = OrderManager(client, EventBus())
    gw.inject_error("/Order/place", code=2, message="Rejected by risk desk")
    with pytest.raises(ProjectXOrderError, match="Rejected by risk desk"):
        await orders.place_market_order(MNQ, side=0, size=1)
    assert gw.position_size("MNQ") == 0
    gw.inject_error("/Position/searchOpen", code=7, message="Gateway busy")
    with pytest.raises(ProjectXError, match="Gateway busy"):
        await client.search_open_positions()
    gw.trader_place("MNQ", "buy")
    gw.reject_close()
    result = await PositionManager(client, EventBus()).close_position_direct(MNQ)
    assert result["success"] is False and gw.position_size("MNQ") == 1


async def test_can_trade_false_rejects_sdk_orders(client: Any, gw: SimGateway) -> None:
    gw.set_can_trade(False)
    with pytest.raises(ProjectXOrderError, match="not allowed"):
        await OrderManager(client, EventBus()).place_market_order(MNQ, side=0, size=1)
    assert not (await client.list_accounts())[0].canTrade


async def test_sdk_reconnects_after_dropped_websockets(
    realtime: tuple[Any, Inbox], gw: SimGateway
) -> None:
    _, inbox = realtime
    subscribed = sum(1 for _, t, _ in gw.hubs.invocations if t == "SubscribeTrades")
    assert await gw.drop_connections() == 2
    async with asyncio.timeout(10):
        while sum(1 for _, t, _ in gw.hubs.invocations if t == "SubscribeTrades") <= subscribed:
            await asyncio.sleep(0.02)
    gw.trader_place("MNQ", "buy")
    trade = (await inbox.wait("trade_execution"))[0]
    assert trade["data"]["size"] == 1


async def test_limit_modify_cancel_and_partial_close(client: Any, gw: SimGateway) -> None:
    orders = OrderManager(client, EventBus())
    limit = await orders.place_limit_order(MNQ, side=0, size=1, limit_price=20900.0)
    assert await orders.modify_order(limit.orderId, limit_price=20950.0)
    assert gw.market.book.orders[limit.orderId].limit_price == 20950
    assert await orders.cancel_order(limit.orderId)
    assert await orders.search_open_orders() == []
    gw.trader_place("MNQ", "buy", size=3)
    result = await PositionManager(client, EventBus()).partially_close_position(MNQ, 2)
    assert result["success"] is True and gw.position_size("MNQ") == 1
    assert await client.logout()
