"""PriorityGate: enforcement requests never wait, the others keep a reserve free and back off
after a 429; the adapter marks its enforcement calls and turns a 429 into a retryable code."""

from __future__ import annotations

import asyncio
import random
from typing import Any
from unittest.mock import AsyncMock

import httpx
import pytest
from project_x_py.exceptions import OrderSubmissionUncertainError, ProjectXRateLimitError
from tests.broker.test_projectx import Sink, make_broker
from tests.mocks.mock_sdk import MockSDK

from rmdsl.broker import projectx_rate
from rmdsl.broker.projectx_rate import (
    RATE_LIMITED,
    Budget,
    PriorityGate,
    install,
    rate_limited,
)
from rmdsl.errors import BrokerError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gate(clock: Clock, **budget: Any) -> PriorityGate:
    options: dict[str, Any] = {"limit": 10, "window_s": 60.0, "reserve": 3}
    options.update(budget)
    return PriorityGate(Budget(**options), clock=clock, rng=random.Random(7))


async def test_other_calls_stop_at_the_reserve_enforcement_uses_it() -> None:
    clock = Clock()
    g = gate(clock)
    for _ in range(7):
        await g.acquire()
        clock.now += 1
    assert g.remaining() == 3 and g.waited == 0
    # until the first (at 100, now 107) leaves the window, and the slack after it
    assert g._delay() == pytest.approx(53 + Budget().slack_s)
    with g.urgent():
        for _ in range(5):  # the reserve, and past it: the gateway's 429 will tell
            await g.acquire()
    assert g.remaining() == -2 and g.sent == 12
    clock.now += 53
    assert g._delay() > 0  # still 11 in the window
    clock.now += 60
    assert g._delay() == 0


async def test_a_429_pauses_other_calls_with_a_growing_jittered_backoff() -> None:
    clock = Clock()
    g = gate(clock, backoff_s=1.0, jitter=0.5)
    g.note_status(429)
    first = g._delay()
    assert 1.0 <= first <= 1.5
    g.note_status(429)
    assert 2.0 <= g._delay() <= 3.0
    with g.urgent():
        await g.acquire()  # enforcement is not paused
    assert g.sent == 1 and g.refused == 2
    g.note_status(200)
    clock.now += 3.0
    assert g._delay() == 0
    g.note_status(429)
    assert 1.0 <= g._delay() <= 1.5  # the streak was reset by the success


async def test_install_takes_the_sdk_limiters_place_and_sees_every_answer() -> None:
    class Client:
        rate_limiter: object = object()

    client = Client()
    g = PriorityGate()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(429))
    ) as http:
        client._client = http  # type: ignore[attr-defined]
        install(client, g)
        install(client, g)  # idempotent
        assert client.rate_limiter is g
        await http.post("http://gw.invalid/api/Order/search")
    assert g.refused == 1 and g._delay() > 0


def test_rate_limited_recognises_the_sdks_two_429_errors() -> None:
    assert rate_limited(ProjectXRateLimitError("Rate limit exceeded"))
    mutating = OrderSubmissionUncertainError("Mutating request was rate-limited after it may ...")
    assert rate_limited(mutating)
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = mutating
    assert rate_limited(wrapped)
    assert not rate_limited(OrderSubmissionUncertainError("transport error"))


async def test_enforcement_calls_are_urgent_and_a_429_is_a_coded_broker_error() -> None:
    sdk = MockSDK()
    broker = make_broker(sdk)
    await broker.connect(Sink())
    try:
        seen: list[bool] = []

        async def close(*args: object, **kwargs: object) -> Any:  # the client's _make_request
            seen.append(projectx_rate._URGENT.get())
            raise OrderSubmissionUncertainError("Mutating request was rate-limited after ...")

        sdk.suite.client._make_request = AsyncMock(side_effect=close)
        with pytest.raises(BrokerError) as raised:
            await broker.close_position("CON.F.US.MNQ.Z26")
        assert raised.value.code == RATE_LIMITED and seen == [True]

        async def swallowed(*args: object, **kwargs: object) -> Any:  # a 429 the answer hides
            await broker.gate.on_response(httpx.Response(429))  # the SDK's httpx hook
            return {"success": False, "error": "Operation failed"}

        sdk.suite.client._make_request = AsyncMock(side_effect=swallowed)
        with pytest.raises(BrokerError, match="429") as hidden:
            await broker.close_position("CON.F.US.MNQ.Z26")
        assert hidden.value.code == RATE_LIMITED
        sdk.suite.orders.cancel_order = AsyncMock(
            side_effect=lambda order_id, **_: seen.append(projectx_rate._URGENT.get()) or True
        )
        await broker.cancel_order(5)
        sdk.suite.client.list_accounts.side_effect = ProjectXRateLimitError("Rate limit")
        with pytest.raises(BrokerError) as read:
            await broker.snapshot()
        assert seen == [True, True] and not projectx_rate._URGENT.get()
        assert read.value.code == RATE_LIMITED
    finally:
        await broker.disconnect()


async def full_gate(limit: int = 4, reserve: int = 1, window_s: float = 0.2) -> PriorityGate:
    """A gate whose room for reads is used up (for `window_s`, on the real clock)."""
    g = PriorityGate(Budget(limit=limit, window_s=window_s, reserve=reserve))
    for _ in range(limit - reserve):
        await g.acquire()
    return g


async def test_enforcement_overtakes_queued_reconcile_reads() -> None:
    g = await full_gate()
    order: list[str] = []

    async def read(name: str) -> None:
        async with g.admitted(projectx_rate.BULK, name):
            order.append(name)

    reads = [asyncio.create_task(read(f"read-{i}")) for i in range(3)]
    await asyncio.sleep(0)
    assert g.queued == 3 and not order
    with g.urgent():
        await asyncio.wait_for(g.acquire(), 0.01)  # never waits behind the queued reads
    order.append("close")
    await asyncio.gather(*reads)
    assert order == ["close", "read-0", "read-1", "read-2"]  # the reads in their order


async def test_waiting_reads_go_by_priority_then_arrival_and_activity_hurries_an_account() -> None:
    g = await full_gate(limit=2, reserve=1, window_s=0.1)
    served: list[str] = []

    async def read(name: str, priority: int, key: str) -> None:
        await g.turn(priority, key)
        served.append(name)

    tasks = [
        asyncio.create_task(read("bulk-a", projectx_rate.BULK, "A")),
        asyncio.create_task(read("bulk-b", projectx_rate.BULK, "B")),
        asyncio.create_task(read("normal", projectx_rate.NORMAL, "N")),
        asyncio.create_task(read("bulk-c", projectx_rate.BULK, "C")),
    ]
    await asyncio.sleep(0)
    g.hurry("C")  # account C traded before its reconcile: its reads go before A's and B's
    await asyncio.gather(*tasks)
    assert served == ["normal", "bulk-c", "bulk-a", "bulk-b"]


async def test_an_admitted_read_counts_once_and_gives_back_an_unused_slot() -> None:
    g = PriorityGate(Budget(limit=10, window_s=60.0, reserve=2))
    async with g.admitted():
        await g.acquire()  # the SDK's own acquire for the request: the slot granted
    assert g.sent == 1 and g.remaining() == 9
    async with g.admitted():
        pass  # answered from the SDK's cache: nothing sent
    assert g.sent == 1 and g.remaining() == 9


async def test_a_read_cancelled_in_the_queue_leaves_it() -> None:
    g = await full_gate(window_s=60.0)
    waiting = asyncio.create_task(g.turn(projectx_rate.BULK))
    await asyncio.sleep(0)
    assert g.queued == 1
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert g.queued == 0 and g.sent == 3


async def test_a_slot_stays_taken_for_the_slack_past_the_window() -> None:
    """The gateway counts a request when it arrives, which a busy loop may delay: a slot is
    freed only `slack_s` after the window, so two windows' requests never land in one."""
    clock = Clock()
    g = gate(clock, limit=2, reserve=0, slack_s=0.5)
    await g.acquire()
    await g.acquire()
    clock.now += 60.0  # the window has passed, the slack has not
    assert g.remaining() == 0 and g._delay() == pytest.approx(0.5)
    clock.now += 0.5
    assert g.remaining() == 2 and g._delay() == 0.0
