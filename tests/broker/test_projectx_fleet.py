"""Many accounts under one login on the mock SDK: one login and hub connection, each
account subscribed beside the SDK's own, every event routed to its own account only."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from tests.broker.test_projectx import DAY_START, MNQ, Sink, order, trade
from tests.mocks.mock_sdk import ACCOUNT_ID, MockAccount, MockSDK

from rmdsl.broker.projectx_fleet import ORDER_CONTRACTS_KEPT, ProjectXAccount, ProjectXLogin
from rmdsl.contract.broker import OrderChange
from rmdsl.contract.events import (
    ConnectionEvent,
    ConnectionState,
    OrderEvent,
    OrderStatus,
    OrderType,
    QuoteEvent,
    Side,
    TradeEvent,
)

OTHERS = (7002, 7003)
OUTSIDER = 7004


@pytest.fixture
def sdk() -> MockSDK:
    sdk = MockSDK(
        [
            MockAccount(ACCOUNT_ID, "PRACTICE-1"),
            MockAccount(7002, "EXPRESS-2"),
            MockAccount(7003, "EXPRESS-3"),
            MockAccount(OUTSIDER, "NOT-MINE"),
        ]
    )
    sdk.add_instrument(MNQ, 0.25, 0.5)
    return sdk


@pytest.fixture
async def fleet(sdk: MockSDK) -> AsyncIterator[tuple[ProjectXLogin, dict[str, tuple[Any, Sink]]]]:
    login = ProjectXLogin(
        api_key="key-0123456789",
        username="trader",
        day_start=lambda now: DAY_START,
        watch_interval_s=3600.0,
        sdk=sdk,
    )
    brokers: dict[str, tuple[Any, Sink]] = {}
    for name in ("PRACTICE-1", "EXPRESS-2", "EXPRESS-3"):
        broker, sink = login.broker(name), Sink()
        await broker.connect(sink)
        brokers[name] = (broker, sink)
    yield login, brokers
    for broker, _ in brokers.values():
        await broker.disconnect()
    await login.close()


def sent(sdk: MockSDK) -> list[tuple[str, list[Any]]]:
    connection = sdk.realtime.user_connection
    assert connection is not None
    return [(c.args[0], c.args[1]) for c in connection.send.await_args_list]


async def flush(brokers: dict[str, tuple[Any, Sink]]) -> None:
    for broker, _ in brokers.values():
        await broker.flush()


async def test_one_login_one_connection_and_each_account_subscribed_beside_the_sdks(
    sdk: MockSDK, fleet: tuple[ProjectXLogin, dict[str, tuple[Any, Sink]]]
) -> None:
    login, brokers = fleet
    assert sdk.login.await_count == 1 and sdk.open_suite.await_count == 1
    assert sdk.realtime.connect.await_count == 1
    assert login.primary == ACCOUNT_ID  # the SDK's realtime client is built for the first
    assert sdk.realtime.subscribe_user_updates.await_count == 1  # SubscribeAccounts + its own
    for account in OTHERS:
        for topic in ("Orders", "Positions", "Trades"):
            assert (f"Subscribe{topic}", [account]) in sent(sdk)
    assert all(args != [OUTSIDER] for _, args in sent(sdk))
    assert {b.account_id for b, _ in brokers.values()} == {ACCOUNT_ID, *OTHERS}
    assert len({id(b.gate) for b, _ in brokers.values()} | {id(login.gate)}) == 1


async def test_interleaved_bursts_reach_only_their_own_account_in_order(
    sdk: MockSDK, fleet: tuple[ProjectXLogin, dict[str, tuple[Any, Sink]]]
) -> None:
    login, brokers = fleet
    accounts = (ACCOUNT_ID, *OTHERS, OUTSIDER)
    for n in range(60):
        account = accounts[n % len(accounts)]
        await sdk.realtime.push_user("GatewayUserTrade", trade(1000 + n, accountId=account))
    await flush(brokers)
    for (broker, sink), account in zip(brokers.values(), accounts, strict=False):
        trades = sink.of(TradeEvent)
        assert [t.id for t in trades] == [
            1000 + n for n in range(60) if n % 4 == accounts.index(account)
        ]
        assert {t.account_id for t in trades} == {broker.account_id}
    assert login.live is not None and login.live.routes.unrouted == 15  # the outsider's


async def test_a_connection_change_reaches_every_account_and_all_are_resubscribed(
    sdk: MockSDK, fleet: tuple[ProjectXLogin, dict[str, tuple[Any, Sink]]]
) -> None:
    _, brokers = fleet
    before = len(sent(sdk))
    await sdk.realtime.drop()
    await sdk.realtime.reopen()
    live = brokers["PRACTICE-1"][0].live
    for task in list(live._tasks):
        await task
    await flush(brokers)
    for _, sink in brokers.values():
        states = [e.state for e in sink.of(ConnectionEvent)]
        assert states == [ConnectionState.DISCONNECTED, ConnectionState.CONNECTED]
    again = sent(sdk)[before:]
    for account in OTHERS:
        assert ("SubscribeTrades", [account]) in again


async def test_disconnecting_one_account_unsubscribes_it_and_leaves_the_others(
    sdk: MockSDK, fleet: tuple[ProjectXLogin, dict[str, tuple[Any, Sink]]]
) -> None:
    _, brokers = fleet
    broker, sink = brokers.pop("EXPRESS-2")
    await broker.disconnect()
    for topic in ("Orders", "Positions", "Trades"):
        assert (f"Unsubscribe{topic}", [7002]) in sent(sdk)
    await sdk.realtime.push_user("GatewayUserTrade", trade(77, accountId=7002))
    await sdk.realtime.push_user("GatewayUserTrade", trade(78, accountId=7003))
    await flush(brokers)
    assert not sink.of(TradeEvent)
    assert [t.id for t in brokers["EXPRESS-3"][1].of(TradeEvent)] == [78]
    assert sdk.logout.await_count == 0  # the login stays for the others


async def test_another_accounts_modify_is_posted_for_it_on_the_tick(
    sdk: MockSDK, fleet: tuple[ProjectXLogin, dict[str, tuple[Any, Sink]]]
) -> None:
    _, brokers = fleet
    broker: ProjectXAccount = brokers["EXPRESS-3"][0]
    now = dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC)
    stop = OrderEvent(
        41, 7003, MNQ, now, OrderStatus.OPEN, OrderType.STOP, Side.SELL, 1, None, Decimal(20990)
    )
    await broker._noting(Sink())(stop)  # the account's order event names its contract
    await broker.modify_order(41, OrderChange(stop_price=Decimal("20975.6")))
    sdk.suite.orders.modify_order.assert_not_awaited()  # it would modify the SDK's account
    sdk.suite.client._make_request.assert_awaited_once_with(
        "POST", "/Order/modify", data={"accountId": 7003, "orderId": 41, "stopPrice": 20975.5}
    )
    primary: ProjectXAccount = brokers["PRACTICE-1"][0]
    await primary.modify_order(9, OrderChange(stop_price=Decimal("20975.5")))
    sdk.suite.orders.modify_order.assert_awaited_once()


async def test_quotes_reach_only_the_accounts_exposed_in_the_contract_latest_first(
    sdk: MockSDK, fleet: tuple[ProjectXLogin, dict[str, tuple[Any, Sink]]]
) -> None:
    _, brokers = fleet
    rt = sdk.realtime

    async def quote(bid: float) -> None:
        await rt.push_quote(MNQ, {"symbol": MNQ, "lastPrice": bid, "bestBid": bid})

    await quote(21000)  # nobody works an order or holds a position in MNQ yet
    await rt.push_user("GatewayUserOrder", order(8) | {"accountId": 7002})
    await quote(21001)
    await rt.push_user("GatewayUserOrder", order(8, status=3) | {"accountId": 7002})
    await quote(21002)  # its stop cancelled: EXPRESS-2 no longer follows MNQ
    await flush(brokers)
    seen = brokers["EXPRESS-2"][1].events
    assert [type(e) for e in seen] == [QuoteEvent, OrderEvent, QuoteEvent, OrderEvent]
    first, working, second, cancelled = seen
    assert isinstance(first, QuoteEvent) and first.price == Decimal(21000)  # before its order
    assert isinstance(second, QuoteEvent) and second.price == Decimal(21001)
    assert isinstance(working, OrderEvent) and working.working
    assert isinstance(cancelled, OrderEvent) and not cancelled.working
    for name in ("PRACTICE-1", "EXPRESS-3"):
        assert not brokers[name][1].of(QuoteEvent)
    market = rt.market_connection
    assert market is not None
    market.send.assert_awaited_once_with("SubscribeContractQuotes", [MNQ])


async def test_a_snapshots_account_row_is_the_hubs_last_update_and_no_read_waits_for_it(
    sdk: MockSDK, fleet: tuple[ProjectXLogin, dict[str, tuple[Any, Sink]]]
) -> None:
    """docs/broker.md, "Many accounts: start-up": the list the connects read serves the
    snapshots however long they waited; an account update from the hub after it is newer
    (the daemon has applied it: the old list must not put the old balance back) and is the
    row itself, so no read is sent while the snapshot holds the account's events paused.
    Only a connection change (updates may have been missed) makes the list be read again."""
    login, brokers = fleet
    express, _ = brokers["EXPRESS-2"]
    listed = login.listed
    assert (await express.snapshot()).account.balance != Decimal("49000")
    assert login.listed == listed  # no account update: the connects' list
    update = {"id": 7002, "name": "EXPRESS-2", "balance": 49_000.0, "canTrade": True}
    await sdk.realtime.push_user("GatewayUserAccount", update)
    await flush(brokers)
    assert (await express.snapshot()).account.balance == Decimal("49000")
    assert login.listed == listed  # the hub's update is the row: nothing read
    await brokers["EXPRESS-3"][0].snapshot()  # its own account had no update: the list
    assert login.listed == listed
    await sdk.realtime.drop()  # updates may be missed while away: the list is read again
    await sdk.realtime.reopen()
    for task in list(express.live._tasks):
        await task
    await flush(brokers)
    await express.snapshot()
    assert login.listed == listed + 1


async def test_an_account_remembers_the_contracts_of_its_working_orders_only_and_a_bounded_number(
    sdk: MockSDK, fleet: tuple[ProjectXLogin, dict[str, tuple[Any, Sink]]]
) -> None:
    """Every order's contract was kept for the daemon's life: ~200 orders a minute in a fleet."""
    broker: ProjectXAccount = fleet[1]["EXPRESS-3"][0]
    now, deliver = dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC), broker._noting(Sink())

    def order(oid: int, status: OrderStatus) -> OrderEvent:
        return OrderEvent(oid, 7003, MNQ, now, status, OrderType.STOP, Side.SELL, 1, None, None)

    for oid in range(1, 2001):  # placed, then filled or cancelled
        await deliver(order(oid, OrderStatus.OPEN))
        await deliver(order(oid, OrderStatus.FILLED if oid % 2 else OrderStatus.CANCELLED))
    assert broker._order_contracts == {}
    for oid in range(1, 2001):  # working orders whose end never came: the newest kept
        await deliver(order(oid, OrderStatus.OPEN))
    kept = broker._order_contracts
    assert len(kept) == ORDER_CONTRACTS_KEPT and min(kept) == 2001 - ORDER_CONTRACTS_KEPT
