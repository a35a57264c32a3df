"""The bounded event queue between the broker adapter and the engine (docs/decisions.md Q16).

At most `limit` (10,000) events wait in the main queue. When it is full the
daemon is degraded: quotes are coalesced to the latest per contract, and
every other event (fills, positions, orders, account, clock) goes to an
overflow list that is never dropped. `put` never blocks and never loses a
fill: a SignalR callback that blocked would stall the websocket instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from rmdsl.contract.events import ClockEvent, Event, QuoteEvent

log = logging.getLogger("rmdsl.engine.queue")

QUEUE_LIMIT = 10_000


class EventQueue:
    """FIFO of events with quote coalescing and a never-dropping overflow when full."""

    def __init__(
        self,
        limit: int = QUEUE_LIMIT,
        on_degraded: Callable[[int], None] | None = None,
    ) -> None:
        self.limit = limit
        self._main: deque[Event] = deque()
        self._overflow: deque[Event] = deque()
        self._quotes: dict[str, QuoteEvent] = {}  # coalesced while degraded
        self._clock: ClockEvent | None = None  # only the latest tick matters
        self._ready = asyncio.Event()
        self._on_degraded = on_degraded
        self.degraded = False
        self.coalesced = 0  # quotes replaced by a newer one while degraded
        self.peak_depth = 0

    @property
    def depth(self) -> int:
        return len(self._main) + len(self._overflow) + len(self._quotes) + (self._clock is not None)

    def put(self, event: Event) -> None:
        """Enqueue without blocking; never drops a non-quote event."""
        room = len(self._main) < self.limit and not self._overflow
        if isinstance(event, QuoteEvent) and (not room or event.contract_id in self._quotes):
            # a quote already parked must be replaced, never overtaken by a newer one in main
            self.coalesced += event.contract_id in self._quotes
            self._quotes[event.contract_id] = event
            if not room:
                self._enter_degraded()
        elif room:
            self._main.append(event)
        elif isinstance(event, ClockEvent):
            self._clock = event
            self._enter_degraded()
        else:
            self._overflow.append(event)
            self._enter_degraded()
        depth = self.depth
        if depth > self.peak_depth:
            self.peak_depth = depth
        self._ready.set()

    def _enter_degraded(self) -> None:
        if self.degraded:
            return
        self.degraded = True
        log.critical("daemon degraded: event queue full (%d events waiting)", self.depth)
        if self._on_degraded is not None:
            self._on_degraded(self.depth)

    def get_nowait(self) -> Event | None:
        """The next event, or None when empty. Main queue first, then overflow, then quotes."""
        if self._main:
            event: Event | None = self._main.popleft()
        elif self._overflow:
            event = self._overflow.popleft()
        elif self._quotes:
            key = next(iter(self._quotes))
            event = self._quotes.pop(key)
        elif self._clock is not None:
            event, self._clock = self._clock, None
        else:
            event = None
        self._refill()
        return event

    def _refill(self) -> None:
        """Move overflow back into the main queue in order; leave degraded once half empty."""
        while self._overflow and len(self._main) < self.limit:
            self._main.append(self._overflow.popleft())
        if self.degraded and not self._overflow and len(self._main) <= self.limit // 2:
            self.degraded = False
            log.warning("event queue recovered (%d events waiting)", self.depth)
        if self.depth == 0:
            self._ready.clear()

    async def get(self) -> Event:
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            self._ready.clear()
            await self._ready.wait()

    def __len__(self) -> int:
        return self.depth
