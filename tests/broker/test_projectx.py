"""ProjectXBroker on the mock SDK: connect, event mapping, dedupe, connection state, snapshot."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from tests.mocks.mock_sdk import ACCOUNT_ID, TS, MockSDK

from rmdsl.broker.projectx import ProjectXBroker
from rmdsl.contract.events import (
    AccountEvent,
    ConnectionEvent,
    ConnectionState,
    Event,
    OrderEvent,
    OrderStatus,
    OrderType,
    PositionEvent,
    PositionType,
    QuoteEvent,
    Side,
    TradeEvent,
)
from rmdsl.errors import BrokerError

MNQ = "CON.F.US.MNQ.Z26"
ES = "CON.F.US.EP.Z26"
DAY_START = dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC)


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of[E](self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]


def make_broker(sdk: MockSDK, **kw: object) -> ProjectXBroker:
    options: dict[str, object] = {
        "api_key": "key-0123456789",
        "username": "trader",
        "day_start": lambda now: DAY_START,
        "watch_interval_s": 3600.0,  # tests drive the watchdog with live.tick()
        "sdk": sdk,
    }
    options.update(kw)
    return ProjectXBroker("practice-1", **options)  # type: ignore[arg-type]


@pytest.fixture
def sdk() -> MockSDK:
    sdk = MockSDK()
    sdk.add_instrument(MNQ, 0.25, 0.5)
    sdk.add_instrument(ES, 0.25, 12.5)
    return sdk


@pytest.fixture
async def sink() -> Sink:
    return Sink()


@pytest.fixture
async def broker(sdk: MockSDK, sink: Sink) -> AsyncIterator[ProjectXBroker]:
    broker = make_broker(sdk)
    await broker.connect(sink)
    yield broker
    await broker.disconnect()


def trade(tid: int = 1, **kw: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": tid,
        "accountId": ACCOUNT_ID,
        "contractId": MNQ,
        "creationTimestamp": TS,
        "price": 21000.25,
        "profitAndLoss": -42.5,
        "fees": 0.74,
        "side": 1,
        "size": 2,
        "voided": False,
        "orderId": 9,
    }
    data.update(kw)
    return data


def position(pid: int = 5, size: int = 2, price: float = 21000.0) -> dict[str, object]:
    return {
        "id": pid,
        "accountId": ACCOUNT_ID,
        "contractId": MNQ,
        "creationTimestamp": TS,
        "type": 1,
        "size": size,
        "averagePrice": price,
    }


def order(oid: int = 8, status: int = 1, updated: str = TS) -> dict[str, object]:
    return {
        "id": oid,
        "accountId": ACCOUNT_ID,
        "contractId": MNQ,
        "creationTimestamp": TS,
        "updateTimestamp": updated,
        "status": status,
        "type": 4,
        "side": 1,
        "size": 2,
        "stopPrice": 20950.0,
    }


# -- connect -------------------------------------------------------------------


async def test_connect_selects_the_account_by_name_and_subscribes(
    broker: ProjectXBroker, sdk: MockSDK
) -> None:
    client, rt = sdk.suite.client, sdk.realtime
    assert broker.account_id == ACCOUNT_ID
    assert client.account_name == "PRACTICE-1"  # a re-login picks the same account
    assert client.account_info is not None and client.account_info.id == ACCOUNT_ID
    assert sdk.settings.username == "trader" and sdk.settings.api_key == "key-0123456789"
    assert set(rt.callbacks) == {
        "trade_execution",
        "position_update",
        "order_update",
        "account_update",
        "quote_update",
    }
    rt.connect.assert_awaited_once()
    rt.subscribe_user_updates.assert_awaited_once()
    assert rt.stale_feed_seconds == math.inf


async def test_credentials_come_from_the_environment(
    sdk: MockSDK, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROJECT_X_API_KEY", "env-key-0123456789")
    monkeypatch.setenv("PROJECT_X_USERNAME", "env-user")
    broker = make_broker(sdk, api_key=None, username=None)
    await broker.connect(sink)
    await broker.disconnect()
    assert (sdk.settings.username, sdk.settings.api_key) == ("env-user", "env-key-0123456789")


async def test_missing_credentials_is_a_clear_error(
    sdk: MockSDK, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROJECT_X_API_KEY", raising=False)
    monkeypatch.setenv("PROJECT_X_USERNAME", "env-user")
    broker = make_broker(sdk, api_key=None, username=None)
    with pytest.raises(BrokerError, match="PROJECT_X_API_KEY") as info:
        await broker.connect(sink)
    assert "PROJECT_X_USERNAME" not in str(info.value)
    sdk.login.assert_not_awaited()


async def test_unknown_account_lists_the_available_ones(sdk: MockSDK, sink: Sink) -> None:
    broker = ProjectXBroker("NOPE", api_key="k" * 12, username="u", sdk=sdk)
    with pytest.raises(
        BrokerError, match=r"'NOPE' not found; available accounts: LIVE-1, PRACTICE-1"
    ):
        await broker.connect(sink)
    sdk.logout.assert_awaited_once()
    sdk.open_suite.assert_not_awaited()


async def test_failed_realtime_connect_cleans_up(sdk: MockSDK, sink: Sink) -> None:
    sdk.realtime.connect.side_effect = None
    sdk.realtime.connect.return_value = False
    broker = make_broker(sdk)
    with pytest.raises(BrokerError, match="realtime hubs did not connect"):
        await broker.connect(sink)
    sdk.realtime.cleanup.assert_awaited_once()
    sdk.logout.assert_awaited_once()


async def test_login_failure_becomes_broker_error(sdk: MockSDK, sink: Sink) -> None:
    sdk.login.side_effect = RuntimeError("Authentication failed")
    with pytest.raises(BrokerError, match="login: Authentication failed"):
        await make_broker(sdk).connect(sink)


async def test_calls_before_connect_fail_cleanly(sdk: MockSDK) -> None:
    broker = make_broker(sdk)
    with pytest.raises(BrokerError, match="not connected"):
        await broker.snapshot()
    with pytest.raises(BrokerError, match="not connected"):
        await broker.close_position(MNQ)


# -- realtime events -------------------------------------------------------------


async def test_wrapped_trade_payload_maps_to_trade_event(
    broker: ProjectXBroker, sdk: MockSDK, sink: Sink
) -> None:
    before = time.monotonic_ns()
    await sdk.realtime.push_user("GatewayUserTrade", trade(11))
    after = time.monotonic_ns()
    await broker.flush()
    [event] = sink.of(TradeEvent)
    assert event.id == 11 and event.contract_id == MNQ and event.symbol == "MNQ"
    assert event.pnl == Decimal("-42.5") and event.fees == Decimal("0.74")
    assert event.side is Side.SELL and event.size == 2 and event.order_id == 9
    assert event.ts == dt.datetime(2026, 11, 24, 15, 30, tzinfo=dt.UTC)
    assert before <= event.received_ns <= after


async def test_bare_payloads_and_every_user_target_map(
    broker: ProjectXBroker, sdk: MockSDK, sink: Sink
) -> None:
    rt = sdk.realtime
    await rt.deliver("position_update", position())  # unwrapped dict, as some SDK paths give
    await rt.push_user("GatewayUserOrder", order())
    account = {"id": ACCOUNT_ID, "name": "PRACTICE-1", "balance": 49_900.5, "canTrade": True}
    await rt.push_user("GatewayUserAccount", account)
    await rt.push_quote(MNQ, {"symbol": MNQ, "lastPrice": 0, "bestBid": 21000, "bestAsk": 21000.5})
    await broker.flush()
    kinds = [type(e) for e in sink.events]
    assert kinds == [PositionEvent, OrderEvent, AccountEvent, QuoteEvent]
    pos, odr, acc, quote = sink.events
    assert isinstance(pos, PositionEvent) and pos.type is PositionType.LONG and pos.size == 2
    assert isinstance(odr, OrderEvent) and odr.type is OrderType.STOP
    assert odr.stop_price == Decimal("20950.0") and odr.status is OrderStatus.OPEN
    assert isinstance(acc, AccountEvent) and acc.balance == Decimal("49900.5")
    assert isinstance(quote, QuoteEvent) and quote.price == Decimal("21000.25")


async def test_triple_delivery_is_deduplicated(
    broker: ProjectXBroker, sdk: MockSDK, sink: Sink
) -> None:
    rt = sdk.realtime
    await rt.push_user("GatewayUserTrade", trade(21), times=3)
    await rt.push_user("GatewayUserOrder", order(31), times=3)
    await rt.push_user("GatewayUserPosition", position(41, 2), times=3)
    await rt.push_user("GatewayUserPosition", position(41, 0), times=3)
    await rt.push_user("GatewayUserPosition", position(41, 2), times=3)  # reopened: a change
    await rt.push_user("GatewayUserOrder", order(31, status=2, updated="2026-11-24T15:31:00Z"))
    await rt.push_user("GatewayUserOrder", order(31, status=1))  # stale replay of an older update
    await broker.flush()
    assert [e.id for e in sink.of(TradeEvent)] == [21]
    assert [o.status for o in sink.of(OrderEvent)] == [OrderStatus.OPEN, OrderStatus.FILLED]
    assert [p.size for p in sink.of(PositionEvent)] == [2, 0, 2]
    assert broker.live is not None and broker.live.deduper.dropped == 11


async def test_voided_trade_passes_dedupe(broker: ProjectXBroker, sdk: MockSDK, sink: Sink) -> None:
    await sdk.realtime.push_user("GatewayUserTrade", trade(51))
    await sdk.realtime.push_user("GatewayUserTrade", trade(51, voided=True))
    await broker.flush()
    assert [t.voided for t in sink.of(TradeEvent)] == [False, True]


async def test_other_accounts_are_ignored(broker: ProjectXBroker, sdk: MockSDK, sink: Sink) -> None:
    rt = sdk.realtime
    await rt.push_user("GatewayUserTrade", trade(61, accountId=7002))
    await rt.push_user("GatewayUserAccount", {"id": 7002, "name": "LIVE-1", "balance": 1})
    await rt.push_user("GatewayUserTrade", trade(62))
    await broker.flush()
    assert [e.id for e in sink.of(TradeEvent)] == [62] and not sink.of(AccountEvent)


async def test_malformed_payload_is_logged_and_skipped(
    broker: ProjectXBroker, sdk: MockSDK, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    await sdk.realtime.push_user("GatewayUserTrade", {"id": "x"})
    await sdk.realtime.push_user("GatewayUserTrade", trade(71))
    await broker.flush()
    assert [e.id for e in sink.of(TradeEvent)] == [71]
    assert "malformed GatewayUserTrade" in caplog.text


async def test_slow_sink_does_not_block_sdk_callbacks(sdk: MockSDK) -> None:
    gate = asyncio.Event()
    got: list[Event] = []

    async def slow_sink(event: Event) -> None:
        await gate.wait()
        got.append(event)

    broker = make_broker(sdk)
    await broker.connect(slow_sink)
    try:
        async with asyncio.timeout(1):  # would hang if the callback awaited the sink
            for tid in (81, 82, 83):
                await sdk.realtime.push_user("GatewayUserTrade", trade(tid))
        assert got == []
        gate.set()
        async with asyncio.timeout(1):
            await broker.flush()
        assert [e.id for e in got if isinstance(e, TradeEvent)] == [81, 82, 83]
    finally:
        await broker.disconnect()


async def test_a_failing_sink_does_not_stop_delivery(sdk: MockSDK) -> None:
    got: list[int] = []

    async def picky_sink(event: Event) -> None:
        assert isinstance(event, TradeEvent)
        if event.id == 91:
            raise RuntimeError("boom")
        got.append(event.id)

    broker = make_broker(sdk)
    await broker.connect(picky_sink)
    try:
        for tid in (91, 92):
            await sdk.realtime.push_user("GatewayUserTrade", trade(tid))
        async with asyncio.timeout(1):
            await broker.flush()
        assert got == [92]
    finally:
        await broker.disconnect()


async def test_open_position_subscribes_its_quotes_once(
    broker: ProjectXBroker, sdk: MockSDK
) -> None:
    await sdk.realtime.push_user("GatewayUserPosition", position(101, 1))
    await sdk.realtime.push_user("GatewayUserPosition", position(101, 3))
    await broker.flush()
    await asyncio.sleep(0)
    market = sdk.realtime.market_connection
    assert market is not None
    market.send.assert_awaited_once_with("SubscribeContractQuotes", [MNQ])


# -- connection state -------------------------------------------------------------


async def test_hub_drop_and_reopen_give_disconnected_then_connected(
    broker: ProjectXBroker, sdk: MockSDK, sink: Sink
) -> None:
    rt = sdk.realtime
    await rt.drop()
    await rt.drop()  # a second close while down is not a second event
    await rt.reopen()
    async with asyncio.timeout(1):
        while not sink.of(ConnectionEvent)[1:]:
            await asyncio.sleep(0)
    states = [e.state for e in sink.of(ConnectionEvent)]
    assert states == [ConnectionState.DISCONNECTED, ConnectionState.CONNECTED]
    assert rt.subscribe_user_updates.await_count == 2  # resubscribed before CONNECTED


async def test_a_reopen_without_a_reported_close_is_a_reconnect(
    broker: ProjectXBroker, sdk: MockSDK, sink: Sink
) -> None:
    """The SDK's health reconnect (after a stale or frozen hub) stops the hub silently:
    only the reopen is reported, and what the gateway sent in between is lost."""
    await sdk.realtime.reopen()
    async with asyncio.timeout(1):
        while not sink.of(ConnectionEvent)[1:]:
            await asyncio.sleep(0)
    states = [e.state for e in sink.of(ConnectionEvent)]
    assert states == [ConnectionState.DISCONNECTED, ConnectionState.CONNECTED]
    assert sdk.realtime.subscribe_user_updates.await_count == 2


async def test_adapter_reconnects_when_the_sdk_does_not(sdk: MockSDK, sink: Sink) -> None:
    broker = make_broker(sdk, reconnect_after_s=0.0)
    await broker.connect(sink)
    try:
        rt, live = sdk.realtime, broker.live
        assert live is not None
        old_hub = rt.user_connection
        await rt.drop()
        await live.tick()
        sdk.suite.client.authenticate.assert_awaited_once()
        rt.update_jwt_token.assert_awaited_once_with("jwt-2")
        assert live.up and live.reconnects == 1 and rt.user_connection is not old_hub
        await rt.drop()  # the new hub object is hooked too
        await broker.flush()
        states = [e.state for e in sink.of(ConnectionEvent)]
        assert states == [
            ConnectionState.DISCONNECTED,
            ConnectionState.CONNECTED,
            ConnectionState.DISCONNECTED,
        ]
    finally:
        await broker.disconnect()


async def test_failed_reconnects_back_off(sdk: MockSDK, sink: Sink) -> None:
    broker = make_broker(sdk, reconnect_after_s=0.0)
    await broker.connect(sink)
    try:
        rt, live = sdk.realtime, broker.live
        assert live is not None
        rt.update_jwt_token.side_effect = None
        rt.update_jwt_token.return_value = False
        await rt.drop()
        await live.tick()
        await live.tick()  # inside the 1 s backoff: no second attempt
        assert rt.update_jwt_token.await_count == 1 and not live.up
    finally:
        await broker.disconnect()


async def test_flag_drop_without_close_callback_is_noticed(
    broker: ProjectXBroker, sdk: MockSDK, sink: Sink
) -> None:
    assert broker.live is not None
    sdk.realtime.user_connected = False
    await broker.live.tick()
    await broker.flush()
    assert [e.state for e in sink.of(ConnectionEvent)] == [ConnectionState.DISCONNECTED]


async def test_disconnect_cleans_up_without_a_disconnect_event(sdk: MockSDK, sink: Sink) -> None:
    broker = make_broker(sdk)
    await broker.connect(sink)
    await broker.disconnect()
    sdk.realtime.cleanup.assert_awaited_once()
    sdk.logout.assert_awaited_once()
    assert not sink.of(ConnectionEvent)
    with pytest.raises(BrokerError, match="not connected"):
        await broker.cancel_order(1)
