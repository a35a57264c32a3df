"""Partial and odd user-hub payloads through the REAL SDK into ProjectXBroker (docs/broker.md).

The simulated gateway is set (WireStyle) to send incremental updates that
leave out unchanged fields, deletes (action 2) for closed positions and
finished orders, and enum codes past the documented ones. The SDK hands the
`{action, data}` envelope to rmdsl's callbacks as it came.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from tests.broker.test_projectx_e2e import WAIT_S, Inbox

from rmdsl.broker.projectx import ProjectXBroker
from rmdsl.broker.simgateway import SimGateway
from rmdsl.broker.simgateway.wire import WireStyle
from rmdsl.contract.events import (
    AccountEvent,
    Event,
    OrderEvent,
    OrderStatus,
    OrderType,
    PositionEvent,
    TradeEvent,
)

pytestmark = pytest.mark.e2e
ACCOUNT = "PRAC-SIM-1"


async def _connected(
    gw: SimGateway, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> ProjectXBroker:
    for name, value in gw.sdk_env().items():
        monkeypatch.setenv(name, value)
    gw.set_quote("MNQ", "21000.00")
    broker = ProjectXBroker(ACCOUNT, reconnect_after_s=1.0, watch_interval_s=0.05)
    await broker.connect(inbox)
    await gw.wait_for_subscription("user", "SubscribeTrades", timeout=WAIT_S)
    return broker


@pytest.fixture
async def odd_gw() -> AsyncIterator[SimGateway]:
    style = WireStyle(partial=True, delete_closed_positions=True, delete_finished_orders=True)
    async with SimGateway(wire=style) as gateway:
        yield gateway


async def test_partial_updates_and_deletes_reach_the_engine_complete(
    odd_gw: SimGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, inbox = odd_gw, Inbox()
    broker = await _connected(gw, inbox, monkeypatch)
    try:
        gw.set_can_trade(False)  # the account's first push: complete, canTrade false
        await inbox.wait(lambda e: isinstance(e, AccountEvent) and e.can_trade is False)
        gw.set_can_trade(True)  # an update carrying canTrade only
        await inbox.wait(lambda e: isinstance(e, AccountEvent) and e.can_trade is True)
        resting = gw.trader_place("MNQ", "buy", "limit", 1, limit_price="20900")
        await inbox.wait(lambda e: _order(e, resting.id, working=True))
        gw.trader_cancel(resting.id)  # sent as a delete carrying only what changed
        await inbox.wait(lambda e: _order(e, resting.id, working=False))
        gw.trader_place("MNQ", "buy", "market", 2)
        await inbox.wait(lambda e: isinstance(e, PositionEvent) and e.size == 2)
        gw.set_quote("MNQ", "21001.00")
        gw.trader_close("MNQ", 1)
        await inbox.wait(lambda e: isinstance(e, PositionEvent) and e.size == 1)
        gw.set_can_trade(False)
        gw.trader_close("MNQ")  # closes are taken while canTrade is false (the default)
        await inbox.wait(lambda e: isinstance(e, PositionEvent) and e.size == 0)
        await inbox.wait(lambda e: isinstance(e, TradeEvent) and e.pnl is not None, WAIT_S)
    finally:
        await broker.disconnect()
    sent = [p.arguments[0] for p in gw.pushes if p.target.startswith("GatewayUser")]
    assert any(a["action"] == 2 for a in sent), "the gateway was set to send deletes"
    partial_position = [a["data"] for a in sent if "size" in a["data"] and "type" not in a["data"]]
    assert partial_position, "a position update left out its unchanged type"
    positions = inbox.of(PositionEvent)
    assert [p.size for p in positions][-3:] == [2, 1, 0]
    assert all(p.avg_price == Decimal("21000.00") for p in positions if p.size)
    accounts = inbox.of(AccountEvent)
    assert all(a.can_trade is not None and a.balance is not None for a in accounts)
    # the account's fee updates carry only the balance: canTrade stays what it was
    assert accounts[-1].can_trade is False
    assert accounts[-1].balance == Decimal(str(gw.market.accounts[gw.account_id].balance))


async def test_unknown_enum_codes_are_kept_not_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    style = WireStyle(order_type_codes={4: 0}, order_status_codes={1: 9})
    async with SimGateway(wire=style) as gw:
        inbox = Inbox()
        broker = await _connected(gw, inbox, monkeypatch)
        try:
            gw.trader_place("MNQ", "buy", "market", 1)
            await inbox.wait(lambda e: isinstance(e, PositionEvent) and e.size == 1)
            stop = gw.trader_place("MNQ", "sell", "stop", 1, stop_price="20950")
            seen = await inbox.wait(lambda e: isinstance(e, OrderEvent) and e.id == stop.id)
        finally:
            await broker.disconnect()
    assert isinstance(seen, OrderEvent)
    assert seen.type is OrderType.UNKNOWN and seen.status is OrderStatus.UNKNOWN
    assert seen.working and seen.stop_price == Decimal("20950")


def _order(event: Event, order_id: int, *, working: bool) -> bool:
    return isinstance(event, OrderEvent) and event.id == order_id and event.working is working
