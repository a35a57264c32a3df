"""SignalR JSON protocol of the hubs with a bare websocket client: handshake, routing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from rmdsl.broker.simgateway import SimGateway

RS = "\x1e"


@pytest.fixture
async def token(gw: SimGateway) -> str:
    return gw.tokens.issue("tester")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def open_hub(
    session: aiohttp.ClientSession, gw: SimGateway, hub: str, token: str
) -> aiohttp.ClientWebSocketResponse:
    url = gw.user_hub_url if hub == "user" else gw.market_hub_url
    async with session.post(f"{url}/negotiate?access_token={token}") as resp:
        negotiated = await resp.json()
    assert negotiated["connectionId"] and negotiated["negotiateVersion"] == 1
    ws = await session.ws_connect(f"{url}?access_token={token}&id={negotiated['connectionId']}")
    await ws.send_str(json.dumps({"protocol": "json", "version": 1}) + RS)
    assert await ws.receive_str(timeout=2) == "{}" + RS
    return ws


async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    raw = await ws.receive_str(timeout=2)
    assert raw.endswith(RS)
    message: dict[str, Any] = json.loads(raw[:-1])
    return message


async def invoke(
    ws: aiohttp.ClientWebSocketResponse, target: str, args: list[Any], inv: str
) -> None:
    await ws.send_str(
        json.dumps({"type": 1, "target": target, "arguments": args, "invocationId": inv}) + RS
    )


async def test_negotiate_and_websocket_need_a_token(
    gw: SimGateway, session: aiohttp.ClientSession
) -> None:
    async with session.post(f"{gw.user_hub_url}/negotiate?access_token=bad") as resp:
        assert resp.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await session.ws_connect(f"{gw.user_hub_url}?access_token=bad")


async def test_subscriptions_are_completed_and_route_pushes(
    gw: SimGateway, session: aiohttp.ClientSession, token: str
) -> None:
    ws = await open_hub(session, gw, "user", token)
    await invoke(ws, "SubscribeTrades", [gw.account_id], "1")
    assert await receive(ws) == {"type": 3, "invocationId": "1"}
    await invoke(ws, "SubscribeFoo", [], "2")
    assert "error" in await receive(ws)
    other = gw.add_account("OTHER")
    gw.trader_place("MNQ", "buy", account=other)  # not subscribed: nothing arrives
    gw.trader_place("MNQ", "buy")
    push = await receive(ws)
    assert (push["type"], push["target"]) == (1, "GatewayUserTrade")
    assert push["arguments"][0]["data"]["accountId"] == gw.account_id
    await ws.close()


async def test_one_connection_carries_each_account_it_subscribed_and_no_other(
    gw: SimGateway, session: aiohttp.ClientSession, token: str
) -> None:
    """The user hub routes per (method, accountId) (docs/simgateway.md, "Behaviours and
    their sources"): several accounts on one connection, as one daemon's many accounts."""
    second, third = gw.add_account("SECOND"), gw.add_account("THIRD")
    ws = await open_hub(session, gw, "user", token)
    for n, account in enumerate((gw.account_id, second)):
        await invoke(ws, "SubscribeTrades", [account], str(n))
        assert await receive(ws) == {"type": 3, "invocationId": str(n)}
    for account in (third, second, gw.account_id):
        gw.trader_place("MNQ", "buy", account=account)
    pushed = [(await receive(ws))["arguments"][0]["data"]["accountId"] for _ in range(2)]
    assert pushed == [second, gw.account_id]  # THIRD's trade never came
    await invoke(ws, "UnsubscribeTrades", [second], "u")
    await receive(ws)
    gw.trader_place("MNQ", "buy", account=second)
    gw.trader_place("MNQ", "buy")
    assert (await receive(ws))["arguments"][0]["data"]["accountId"] == gw.account_id
    await invoke(ws, "SubscribeAccounts", [], "a")  # every account of the login, no argument
    await receive(ws)
    gw.set_can_trade(False, account=third)
    push = await receive(ws)
    assert (push["target"], push["arguments"][0]["data"]["id"]) == ("GatewayUserAccount", third)
    await ws.close()


async def test_market_hub_quotes_only_for_subscribed_contracts(
    gw: SimGateway, session: aiohttp.ClientSession, token: str
) -> None:
    ws = await open_hub(session, gw, "market", token)
    await invoke(ws, "SubscribeContractQuotes", ["CON.F.US.EP.Z25"], "1")
    await receive(ws)
    gw.set_quote("MNQ", 21000.5)
    gw.set_quote("ES", 6001.25)
    push = await receive(ws)
    assert push["target"] == "GatewayQuote"
    assert push["arguments"][0] == "CON.F.US.EP.Z25"
    assert push["arguments"][1]["lastPrice"] == 6001.25
    await ws.close()


async def test_drop_closes_sockets_and_stop_sends_close(
    gw: SimGateway, session: aiohttp.ClientSession, token: str
) -> None:
    ws = await open_hub(session, gw, "user", token)
    assert await gw.drop_connections() == 1
    msg = await ws.receive(timeout=2)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    ws2 = await open_hub(session, gw, "market", token)
    await gw.stop()
    assert await receive(ws2) == {"type": 7}
    assert (await ws2.receive(timeout=2)).type in (
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
    )
    await asyncio.gather(ws.close(), ws2.close())
