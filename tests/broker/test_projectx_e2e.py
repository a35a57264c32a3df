"""ProjectXBroker over the REAL project-x-py SDK against the simulated gateway (REST + hubs).

The SDK is configured only through its own environment (gw.sdk_env()); the
account is chosen by name among two. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from rmdsl.broker.projectx import ProjectXBroker
from rmdsl.broker.simgateway import SimGateway
from rmdsl.contract.broker import OrderChange, OrderRequest
from rmdsl.contract.events import (
    ConnectionEvent,
    ConnectionState,
    Event,
    OrderEvent,
    OrderStatus,
    OrderType,
    PositionEvent,
    QuoteEvent,
    Side,
    TradeEvent,
)
from rmdsl.errors import BrokerError

pytestmark = pytest.mark.e2e
ACCOUNT = "COMBINE-2"
WAIT_S = 5.0


class Inbox:
    """The engine side: collects events, waits (bounded) for one matching a predicate."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait(self, match: Callable[[Event], bool], timeout: float = WAIT_S) -> Event:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if match(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

    def of[E](self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
async def gw(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimGateway]:
    accounts = (("PRAC-SIM-1", Decimal(50_000)), (ACCOUNT, Decimal(50_000)))
    async with SimGateway(accounts=accounts) as gateway:
        for name, value in gateway.sdk_env().items():
            monkeypatch.setenv(name, value)
        gateway.set_quote("MNQ", "21000.00")
        yield gateway


@pytest.fixture
async def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def broker(gw: SimGateway, inbox: Inbox) -> AsyncIterator[ProjectXBroker]:
    broker = ProjectXBroker(ACCOUNT, reconnect_after_s=1.0, watch_interval_s=0.05)
    await broker.connect(inbox)
    # SignalR subscriptions are fire-and-forget: wait until the gateway applied them
    await gw.wait_for_subscription("user", "SubscribeTrades", timeout=WAIT_S)
    try:
        yield broker
    finally:
        await broker.disconnect()


def mnq(gw: SimGateway) -> str:
    return gw.market.resolve_contract("MNQ").contract_id


async def test_fills_positions_and_orders_stream_in_once(
    broker: ProjectXBroker, gw: SimGateway, inbox: Inbox
) -> None:
    assert broker.account_id == gw._account(ACCOUNT) != gw.account_id
    gw.trader_place("MNQ", "buy", "market", 2, account=ACCOUNT)
    fill = await inbox.wait(lambda e: isinstance(e, TradeEvent))
    assert isinstance(fill, TradeEvent) and fill.side is Side.BUY and fill.size == 2
    assert fill.contract_id == mnq(gw) and fill.price == Decimal("21000.00")
    await inbox.wait(lambda e: isinstance(e, PositionEvent) and e.size == 2)
    await inbox.wait(lambda e: isinstance(e, OrderEvent) and e.status is OrderStatus.FILLED)
    gw.trader_place("MNQ", "buy", "market", 1, account="PRAC-SIM-1")  # not our account
    await gw.flush()
    await gw.wait_for_subscription("market", "SubscribeContractQuotes")
    gw.set_quote("MNQ", "21004.25")
    quote = await inbox.wait(lambda e: isinstance(e, QuoteEvent) and e.price != 21000)
    assert isinstance(quote, QuoteEvent) and quote.price == Decimal("21004.25")
    trades = inbox.of(TradeEvent)
    assert [t.id for t in trades] == [fill.id] and {t.account_id for t in trades} == {
        broker.account_id
    }


async def test_snapshot_sees_the_position_and_a_stop_placed_from_the_ui(
    broker: ProjectXBroker, gw: SimGateway
) -> None:
    gw.trader_place("MNQ", "buy", "market", 1, account=ACCOUNT)
    stop = gw.trader_place("MNQ", "sell", "stop", 1, stop_price="20950.00", account=ACCOUNT)
    snap = await broker.snapshot()
    assert snap.account.name == ACCOUNT and snap.account.id == broker.account_id
    assert [(p.contract_id, p.size) for p in snap.positions] == [(mnq(gw), 1)]
    [order] = snap.open_orders
    assert order.id == stop.id and order.type is OrderType.STOP and order.side is Side.SELL
    assert order.stop_price == Decimal("20950.00")
    assert [t.size for t in snap.trades_today] == [1]
    [info] = snap.contracts
    assert (info.symbol, info.tick_size, info.tick_value) == (
        "MNQ",
        Decimal("0.25"),
        Decimal("0.5"),
    )


async def test_close_position_flattens_on_the_gateway(
    broker: ProjectXBroker, gw: SimGateway, inbox: Inbox
) -> None:
    gw.trader_place("MNQ", "sell", "market", 3, account=ACCOUNT)
    fill = await inbox.wait(lambda e: isinstance(e, TradeEvent))
    await broker.close_position(mnq(gw))
    latency_ms = (time.monotonic_ns() - fill.received_ns) / 1e6
    assert gw.position_size("MNQ", account=ACCOUNT) == 0
    await inbox.wait(lambda e: isinstance(e, PositionEvent) and e.size == 0)
    closing = await inbox.wait(lambda e: isinstance(e, TradeEvent) and e.id != fill.id)
    assert isinstance(closing, TradeEvent) and closing.side is Side.BUY and closing.size == 3
    assert latency_ms < 1000  # Q11's maximum, fill received -> close placed


async def test_gateway_errors_become_broker_errors(broker: ProjectXBroker, gw: SimGateway) -> None:
    gw.trader_place("MNQ", "buy", "market", 1, account=ACCOUNT)
    gw.reject_close(message="Close rejected: account under review")
    with pytest.raises(BrokerError, match="account under review"):
        await broker.close_position(mnq(gw))
    gw.inject_error("/Order/place", message="Insufficient margin")
    with pytest.raises(BrokerError, match="Insufficient margin"):
        await broker.place_order(OrderRequest(mnq(gw), OrderType.MARKET, Side.BUY, 1))
    gw.inject_status("/Order/cancel", 500)
    with pytest.raises(BrokerError, match="cancel order 1"):
        await broker.cancel_order(1)
    assert gw.position_size("MNQ", account=ACCOUNT) == 1


async def test_enforcement_calls_reach_the_gateway(
    broker: ProjectXBroker, gw: SimGateway, inbox: Inbox
) -> None:
    gw.trader_place("MNQ", "buy", "market", 3, account=ACCOUNT)
    await broker.partial_close(mnq(gw), 1)
    assert gw.position_size("MNQ", account=ACCOUNT) == 2
    stop = OrderRequest(mnq(gw), OrderType.STOP, Side.SELL, 2, stop_price=Decimal("20900"))
    order_id = await broker.place_order(stop)
    await broker.modify_order(order_id, OrderChange(stop_price=Decimal("20950.25")))
    moved = await inbox.wait(
        lambda e: isinstance(e, OrderEvent) and e.id == order_id and e.stop_price == 20950.25
    )
    assert isinstance(moved, OrderEvent) and moved.status is OrderStatus.OPEN
    await broker.cancel_order(order_id)
    await inbox.wait(
        lambda e: isinstance(e, OrderEvent) and e.id == order_id and e.status.name == "CANCELLED"
    )
    assert (await broker.snapshot()).open_orders == ()


async def test_dropped_websocket_disconnects_then_reconnects(
    broker: ProjectXBroker, gw: SimGateway, inbox: Inbox
) -> None:
    assert await gw.drop_connections() >= 1
    await inbox.wait(
        lambda e: isinstance(e, ConnectionEvent) and e.state is ConnectionState.DISCONNECTED
    )
    await inbox.wait(
        lambda e: isinstance(e, ConnectionEvent) and e.state is ConnectionState.CONNECTED,
        timeout=15.0,
    )
    states = [e.state for e in inbox.of(ConnectionEvent)]
    assert states[:2] == [ConnectionState.DISCONNECTED, ConnectionState.CONNECTED]
    # subscribing is fire-and-forget over SignalR: a fill in the instant before the
    # gateway applies it is caught by the engine's REST reconcile, not the stream
    async with asyncio.timeout(WAIT_S):
        while [t for _, t, _ in gw.hubs.invocations].count("SubscribeTrades") < 2:
            await asyncio.sleep(0.01)
    gw.trader_place("MNQ", "buy", "market", 1, account=ACCOUNT)  # the stream works again
    await inbox.wait(lambda e: isinstance(e, TradeEvent))


async def test_adapter_reconnects_when_the_sdk_gives_up(
    broker: ProjectXBroker, gw: SimGateway, inbox: Inbox
) -> None:
    gw.tokens.revoke_all()  # the websocket's old token is refused: the SDK's retry is fatal
    await gw.drop_connections()
    await inbox.wait(
        lambda e: isinstance(e, ConnectionEvent) and e.state is ConnectionState.CONNECTED,
        timeout=15.0,
    )
    assert broker.live is not None and broker.live.reconnects >= 1
    async with asyncio.timeout(WAIT_S):
        while [t for _, t, _ in gw.hubs.invocations].count("SubscribeTrades") < 2:
            await asyncio.sleep(0.01)
    gw.trader_place("MNQ", "sell", "market", 1, account=ACCOUNT)
    fill = await inbox.wait(lambda e: isinstance(e, TradeEvent))
    assert isinstance(fill, TradeEvent) and fill.side is Side.SELL
    assert (await broker.snapshot()).positions[0].size == 1  # REST works on the new token


async def test_a_cancel_of_an_order_already_gone_is_done_not_an_error(
    broker: ProjectXBroker, gw: SimGateway, inbox: Inbox
) -> None:
    """The trader cancelled the stop, a market order filled: a cancel of either is answered
    with an error code by the gateway; the SDK then reads the order's terminal status and
    the adapter takes it as done (no BrokerError: the enforcer records no failure and starts
    no retry; the SDK keeps the status, so a second cancel is not even sent)."""
    stop = gw.trader_place("MNQ", "sell", "stop", 1, stop_price="20900", account=ACCOUNT)
    gw.trader_cancel(stop.id, account=ACCOUNT)
    market = gw.trader_place("MNQ", "buy", "market", 1, account=ACCOUNT)
    for oid, status in ((stop.id, OrderStatus.CANCELLED), (market.id, OrderStatus.FILLED)):
        await inbox.wait(lambda e, i=oid, s=status: isinstance(e, OrderEvent) and e.id == i
                         and e.status is s)  # fmt: skip
    await broker.cancel_order(stop.id)
    await broker.cancel_order(market.id)
    answers = gw.requests.answered("/Order/cancel")
    assert len(answers) == 2  # the SDK 4.4.1 sends both: the error-answer path is the one run
    assert all(a.body["success"] is False and a.body["errorCode"] for a in answers)
    assert gw.position_size("MNQ", account=ACCOUNT) == 1
