"""projectx_stream: model -> gateway dict, the deduper's memory, the handoff's backlog warning."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from tests.mocks.mock_sdk import MockPosition

from rmdsl.broker.projectx_stream import Deduper, Handoff, event_from_model, model_payload
from rmdsl.contract.events import (
    ClockEvent,
    Event,
    OrderEvent,
    OrderStatus,
    OrderType,
    PositionEvent,
    Side,
    TradeEvent,
)

TS = dt.datetime(2026, 11, 24, 15, 30, tzinfo=dt.UTC)


def trade(tid: int) -> TradeEvent:
    return TradeEvent(tid, 1, "CON.F.US.MNQ.Z26", TS, Decimal(1), None, Decimal(0), Side.BUY, 1)


def test_model_payload_accepts_dataclasses_dicts_and_plain_objects() -> None:
    position = MockPosition(5, 1, "CON.F.US.MNQ.Z26", "2026-11-24T15:30:00Z", 2, 3, 21000.5)
    as_dict = model_payload(position)
    assert as_dict["averagePrice"] == 21000.5 and as_dict["type"] == 2
    assert model_payload({"id": 1}) == {"id": 1}

    class Plain:
        def __init__(self) -> None:
            self.id = 9

    assert model_payload(Plain()) == {"id": 9}
    event = event_from_model("GatewayUserPosition", position)
    assert isinstance(event, PositionEvent) and event.size == 3 and event.ts == TS


def test_deduper_forgets_the_oldest_trade_ids_beyond_its_memory() -> None:
    deduper = Deduper(max_trades=2)
    assert [deduper.is_new(trade(i)) for i in (1, 2, 1, 3)] == [True, True, False, True]
    assert deduper.is_new(trade(1))  # evicted by 3: memory stays bounded
    assert deduper.dropped == 1


def test_deduper_passes_events_it_does_not_key() -> None:
    deduper = Deduper()
    tick = ClockEvent(TS)
    assert deduper.is_new(tick) and deduper.is_new(tick)


async def test_handoff_warns_once_per_backlog_crossing(caplog: pytest.LogCaptureFixture) -> None:
    gate = asyncio.Event()
    got: list[Event] = []

    async def sink(event: Event) -> None:
        await gate.wait()
        got.append(event)

    handoff = Handoff(sink, warn_depth=3)
    handoff.start()
    try:
        for i in range(6):
            handoff.put(trade(i))
        assert caplog.text.count("backlog at 3 events") == 1 and handoff.peak_depth == 6
        gate.set()
        async with asyncio.timeout(1):
            await handoff.drain()
        assert [e.id for e in got if isinstance(e, TradeEvent)] == list(range(6))
        assert handoff.depth == 0 and handoff.delivered == 6
    finally:
        await handoff.close()


def order_event(oid: int, ts: dt.datetime = TS, status: OrderStatus = OrderStatus.OPEN) -> Event:
    return OrderEvent(
        oid, 1, "CON.F.US.MNQ.Z26", ts, status, OrderType.STOP, Side.SELL, 1, None, Decimal(1)
    )


def test_deduper_memory_of_orders_is_bounded_not_one_entry_per_order_id() -> None:
    """Regression: `_last` / `_order_ts` kept every order id of the session (RSS grew)."""
    deduper = Deduper(max_entities=100)
    for oid in range(1_000):
        assert deduper.is_new(order_event(oid, status=OrderStatus.FILLED))
    assert deduper.remembered[1] == 100


def test_deduper_still_drops_a_recent_redelivery_and_a_stale_update() -> None:
    deduper = Deduper(max_entities=100)
    assert deduper.is_new(order_event(7))
    later = TS + dt.timedelta(seconds=1)
    assert deduper.is_new(order_event(7, later, OrderStatus.FILLED))
    for oid in range(50):  # other orders in between, fewer than the memory holds
        deduper.is_new(order_event(1_000 + oid))
    assert not deduper.is_new(order_event(7, later, OrderStatus.FILLED))  # redelivered
    assert not deduper.is_new(order_event(7))  # older than the last one delivered
    assert deduper.dropped == 2


def test_deduper_lets_a_void_of_a_known_trade_pass_once() -> None:
    deduper = Deduper()
    voided = dataclasses.replace(trade(1), voided=True)
    assert [deduper.is_new(e) for e in (trade(1), trade(1), voided, voided)] == [
        True,
        False,
        True,
        False,
    ]
