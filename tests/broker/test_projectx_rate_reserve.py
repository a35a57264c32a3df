"""PriorityGate.reserved: a snapshot's reads wait for their turn once, together, before the
daemon pauses the account's events for them (docs/broker.md, "Many accounts: start-up")."""

from __future__ import annotations

import asyncio

import pytest
from tests.broker.test_projectx_rate import full_gate

from rmdsl.broker import projectx_rate
from rmdsl.broker.projectx_rate import Budget, PriorityGate


async def _read(g: PriorityGate) -> None:
    """One of the snapshot's reads: admitted, then the SDK's acquire for its request."""
    async with g.admitted(projectx_rate.BULK, "A"):
        await g.acquire()


async def test_a_reservations_slots_come_back_to_back_and_its_reads_wait_no_more() -> None:
    g = await full_gate(limit=2, reserve=1, window_s=0.03)  # one read per window
    served: list[str] = []

    async def snapshot() -> None:
        async with g.reserved(3, projectx_rate.BULK, "A"):
            served.append("A")
            reads = asyncio.gather(*(_read(g) for _ in range(3)))
            await asyncio.wait_for(reads, 0.01)  # their turns were taken: no queue again

    async def other() -> None:
        await g.turn(projectx_rate.BULK, "B")
        served.append("B")

    tasks = [asyncio.create_task(snapshot())]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(other()))  # queued after A's three, not between them
    await asyncio.gather(*tasks)
    assert served == ["A", "B"]


async def test_unused_reserved_slots_are_given_back() -> None:
    g = PriorityGate(Budget(limit=10, window_s=60.0, reserve=2))
    async with g.reserved(4):
        assert g.remaining() == 6
        await _read(g)  # the others answered from the SDK's cache: nothing sent
    assert g.sent == 1 and g.remaining() == 9


async def test_a_reservation_cancelled_in_the_queue_gives_back_what_it_was_granted() -> None:
    g = PriorityGate(Budget(limit=4, window_s=60.0, reserve=1))
    await g.acquire()
    await g.acquire()  # one slot left for reads
    waiting = asyncio.create_task(g.turns(3, projectx_rate.BULK))
    await asyncio.sleep(0)
    assert g.sent == 3 and g.queued == 2
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert g.queued == 0 and g.sent == 2


async def test_an_account_trading_hurries_its_reserved_turn() -> None:
    g = await full_gate(limit=2, reserve=1, window_s=0.03)
    served: list[str] = []

    async def snapshot(key: str) -> None:
        async with g.reserved(2, projectx_rate.BULK, key):
            served.append(key)

    tasks = [asyncio.create_task(snapshot(k)) for k in ("B", "A")]
    await asyncio.sleep(0)
    g.hurry("A")  # A traded before its reconcile: its reads go first
    await asyncio.gather(*tasks)
    assert served == ["A", "B"]
