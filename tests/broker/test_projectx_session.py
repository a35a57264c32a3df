"""Days-long sessions on the mock SDK: the hubs move to a new token before theirs expires,
and a GatewayLogout makes the adapter log in again and reconnect."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from unittest.mock import AsyncMock, Mock

import pytest
from tests.broker.test_projectx import Sink, make_broker, position, trade
from tests.mocks.mock_sdk import MockSDK

from rmdsl.broker.projectx import ProjectXBroker
from rmdsl.broker.projectx_live import LiveFeed
from rmdsl.broker.projectx_session import expires_within, fresh_token, jwt_expiry
from rmdsl.contract.events import ConnectionEvent, ConnectionState, PositionEvent, TradeEvent

DOWN_UP = [ConnectionState.DISCONNECTED, ConnectionState.CONNECTED]


def jwt(exp: float | None) -> str:
    claims = {"sub": "trader"} if exp is None else {"sub": "trader", "exp": exp}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{body}.sig"


def test_jwt_expiry_reads_exp_and_tolerates_anything_else() -> None:
    assert jwt_expiry(jwt(1_800_000_000.5)) == 1_800_000_000.5
    assert jwt_expiry(jwt(None)) is None
    assert jwt_expiry("jwt-1") is None and jwt_expiry("a.!!!.c") is None
    assert expires_within(jwt(100.0), 10.0, now=95.0)
    assert not expires_within(jwt(100.0), 10.0, now=80.0)
    assert not expires_within("opaque-token", 10.0)


async def test_fresh_token_logs_in_when_validate_gives_no_lasting_token() -> None:
    client = Mock()
    client.validate_session = AsyncMock(return_value=True)
    client.authenticate = AsyncMock()
    soon, later = jwt(time.time() + 5), jwt(time.time() + 3600)
    client.get_session_token = Mock(side_effect=[soon, later])
    assert await fresh_token(client, renew_before_s=60) == later
    client.authenticate.assert_awaited_once()


@pytest.fixture
def sdk() -> MockSDK:
    return MockSDK()


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
async def feed(sdk: MockSDK, sink: Sink) -> AsyncIterator[tuple[ProjectXBroker, LiveFeed]]:
    broker = make_broker(sdk, renew_token_before_s=60.0)
    await broker.connect(sink)
    assert broker.live is not None
    yield broker, broker.live
    await broker.disconnect()


async def test_hubs_move_to_a_new_token_before_theirs_expires(
    sdk: MockSDK, sink: Sink, feed: tuple[ProjectXBroker, LiveFeed]
) -> None:
    broker, live = feed
    rt, client = sdk.realtime, sdk.suite.client
    rt.jwt_token = jwt(time.time() + 3600)
    await live.tick()
    rt.update_jwt_token.assert_not_awaited()  # far from expiry: nothing to do
    new = jwt(time.time() + 24 * 3600)
    client.validate_session = AsyncMock(return_value=True)  # POST /Auth/validate -> newToken
    client.get_session_token.return_value = new
    rt.jwt_token = jwt(time.time() + 30)
    await live.tick()
    rt.update_jwt_token.assert_awaited_once_with(new)
    client.authenticate.assert_not_awaited()
    await broker.flush()
    assert [e.state for e in sink.of(ConnectionEvent)] == DOWN_UP  # CONNECTED: a reconcile
    await live.tick()
    assert rt.update_jwt_token.await_count == 1 and live.up


async def test_a_failed_renewal_leaves_the_hubs_up_and_backs_off(
    sdk: MockSDK, sink: Sink, feed: tuple[ProjectXBroker, LiveFeed]
) -> None:
    broker, live = feed
    rt, client = sdk.realtime, sdk.suite.client
    client.validate_session = AsyncMock(return_value=False)
    client.authenticate.side_effect = RuntimeError("gateway down")
    rt.jwt_token = jwt(time.time() + 30)
    await live.tick()
    await live.tick()  # inside the backoff: no second attempt
    assert client.authenticate.await_count == 1
    rt.update_jwt_token.assert_not_awaited()
    await broker.flush()
    assert live.up and not sink.of(ConnectionEvent)  # the old token still serves


async def test_gateway_logout_logs_in_again_and_reconnects(
    sdk: MockSDK, sink: Sink, feed: tuple[ProjectXBroker, LiveFeed]
) -> None:
    broker, live = feed
    rt, client = sdk.realtime, sdk.suite.client
    hub = rt.user_connection
    assert hub is not None
    await hub.invoke("GatewayLogout", "Session ended")
    await broker.flush()
    assert [e.state for e in sink.of(ConnectionEvent)] == DOWN_UP[:1]
    await live.tick()
    client.authenticate.assert_awaited_once()  # a full login: the session may be over
    rt.update_jwt_token.assert_awaited_once_with("jwt-2")
    await broker.flush()
    assert [e.state for e in sink.of(ConnectionEvent)] == DOWN_UP and live.up


async def test_a_hub_down_on_an_expired_token_reconnects_without_waiting(
    sdk: MockSDK, sink: Sink
) -> None:
    broker = make_broker(sdk, reconnect_after_s=3600.0)
    await broker.connect(sink)
    try:
        rt, live = sdk.realtime, broker.live
        assert live is not None
        await rt.drop()
        await live.tick()
        rt.update_jwt_token.assert_not_awaited()  # the SDK's own reconnect gets its chance
        rt.jwt_token = jwt(time.time() - 1)  # ...which cannot work on an expired token
        await live.tick()
        rt.update_jwt_token.assert_awaited_once_with("jwt-2")
        assert live.up
    finally:
        await broker.disconnect()


async def test_after_a_gap_a_state_equal_to_the_last_one_before_it_is_delivered(
    sdk: MockSDK, sink: Sink, feed: tuple[ProjectXBroker, LiveFeed]
) -> None:
    """Before the gap: size 2. In the gap (lost): 3, which the reconcile gives the engine.
    After it, the reduce back to 2 must reach the engine, or a rule stays latched on 3."""
    broker, live = feed
    rt = sdk.realtime
    await rt.push_user("GatewayUserPosition", position(41, 2))
    await rt.push_user("GatewayUserTrade", trade(21))
    await rt.drop()
    await rt.reopen()
    async with asyncio.timeout(1):
        while not live.up:
            await asyncio.sleep(0)
    await rt.push_user("GatewayUserPosition", position(41, 2))
    await rt.push_user("GatewayUserTrade", trade(21))  # a trade id is still a repeat
    await broker.flush()
    assert [p.size for p in sink.of(PositionEvent)] == [2, 2]
    assert [t.id for t in sink.of(TradeEvent)] == [21]
