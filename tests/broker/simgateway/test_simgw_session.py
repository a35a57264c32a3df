"""Token expiry, /Auth/validate, GatewayLogout and the 429 budget of the simulated gateway."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from tests.broker.simgateway.test_simgw_hub import invoke, open_hub, receive
from tests.broker.simgateway.test_simgw_rest import login, post

from rmdsl.broker.simgateway import SimGateway
from rmdsl.broker.simgateway.auth import RateLimits, Tokens, Window


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_expires_after_its_lifetime_and_validate_renews_it() -> None:
    clock = Clock()
    tokens = Tokens(3.0, clock=clock)
    old = tokens.issue("u")
    clock.now += 2.9
    assert tokens.ok(old)
    clock.now += 0.2
    assert not tokens.ok(old)
    new = tokens.renew(old)  # the official page: an expired token is re-validated
    assert new is not None and new != old and tokens.ok(new)
    assert tokens.expiry(new) == pytest.approx(clock.now + 3.0)
    refusing = Tokens(3.0, validate_expired=False, clock=clock)
    stale = refusing.issue("u")
    clock.now += 4
    assert refusing.renew(stale) is None
    assert refusing.renew("forged") is None


def test_the_budget_is_a_sliding_window_per_bucket() -> None:
    clock = Clock()
    limits = RateLimits(Window(3, 60.0), Window(2, 30.0), clock=clock)
    assert [limits.admit("u", "/Order/search") for _ in range(4)] == [True, True, True, False]
    assert limits.admit("other", "/Order/search")  # another user has its own budget
    assert [limits.admit("u", "/History/retrieveBars") for _ in range(3)] == [True, True, False]
    clock.now += 60.01
    assert limits.admit("u", "/Order/search")
    assert limits.refused == 2


def test_refused_requests_count_toward_the_window_only_when_set() -> None:
    def knock(count_refused: bool) -> list[bool]:
        clock = Clock()
        limits = RateLimits(Window(2, 60.0), Window(2, 30.0), clock=clock)
        limits.count_refused = count_refused
        seen = [limits.admit("u", "/Order/search") for _ in range(3)]
        clock.now += 30.0
        seen.append(limits.admit("u", "/Order/search"))  # refused; counted at +30 s if set
        clock.now += 30.01  # the first three left the window
        return seen + [limits.admit("u", "/Order/search") for _ in range(2)]

    assert knock(False) == [True, True, False, False, True, True]
    assert knock(True) == [True, True, False, False, True, False]


async def test_rest_refuses_an_expired_token_and_validate_answers_new_token(
    gw: SimGateway,
) -> None:
    gw.tokens.lifetime_s = 0.3
    token = await login(gw)
    assert (await post(gw, "/Account/search", {}, token))[0] == 200
    await asyncio.sleep(0.35)
    assert (await post(gw, "/Account/search", {}, token))[0] == 401
    status, body = await post(gw, "/Auth/validate", None, token)
    assert status == 200 and body["success"] is True and body["newToken"] != token
    assert (await post(gw, "/Account/search", {}, body["newToken"]))[0] == 200
    gw.tokens.validate_expired = False
    await asyncio.sleep(0.35)
    assert (await post(gw, "/Auth/validate", None, body["newToken"]))[0] == 401


async def test_hubs_refuse_an_expired_token(gw: SimGateway) -> None:
    gw.tokens.lifetime_s = 0.2
    token = gw.tokens.issue("tester")
    await asyncio.sleep(0.25)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{gw.user_hub_url}/negotiate?access_token={token}") as resp:
            assert resp.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(f"{gw.market_hub_url}?access_token={token}")


async def test_an_open_hub_is_closed_at_expiry_only_when_set(gw: SimGateway) -> None:
    gw.tokens.lifetime_s = 0.3
    async with aiohttp.ClientSession() as session:
        kept = await open_hub(session, gw, "user", gw.tokens.issue("tester"))
        await asyncio.sleep(0.4)
        assert not kept.closed and len(gw.hubs.connections) == 1  # the default: kept open
        gw.close_hubs_at_expiry = True
        closed = await kept.receive(timeout=1)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert not gw.hubs.connections and gw.closed_at_expiry == 1


async def test_gateway_logout_is_sent_then_the_session_ends(gw: SimGateway) -> None:
    token = gw.tokens.issue("tester")
    async with aiohttp.ClientSession() as session:
        ws = await open_hub(session, gw, "user", token)
        await invoke(ws, "SubscribeAccounts", [], "1")
        assert (await receive(ws))["type"] == 3
        await gw.gateway_logout()
        message = await receive(ws)
        assert message["type"] == 1 and message["target"] == "GatewayLogout"
        closed = await ws.receive(timeout=1)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert not gw.tokens.ok(token)


async def test_past_the_budget_the_gateway_answers_429(gw: SimGateway) -> None:
    gw.limits.set(5, 60.0)
    token = await login(gw)  # /Auth/loginKey is not an authenticated request: not counted
    statuses = [(await post(gw, "/Order/searchOpen", {"accountId": 1}, token))[0] for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    gw.limits.enabled = False
    assert (await post(gw, "/Order/searchOpen", {"accountId": 1}, token))[0] == 200


async def test_a_429_carries_retry_after_only_when_set(gw: SimGateway) -> None:
    gw.limits.set(1, 60.0)
    token = await login(gw)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await post(gw, "/Order/searchOpen", {"accountId": 1}, token))[0] == 200
    seen = []
    async with aiohttp.ClientSession() as session:
        for after in (None, 7):
            gw.limits.retry_after_s = after
            url = gw.api_url + "/Order/searchOpen"
            async with session.post(url, json={"accountId": 1}, headers=headers) as resp:
                seen.append((resp.status, resp.headers.get("Retry-After")))
    assert seen == [(429, None), (429, "7")]
