"""Run a ruleset over a list of events offline (replay, ruleset tests, benchmarks).

An Engine with a MemoryStore, a CollectingNotifier and a RecordingBroker on a
virtual clock. With `simulate`, what enforcement sends takes effect (closes
produce fills and position events); without it, state follows the recording.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from rmdsl.broker.interface import Snapshot
from rmdsl.enforce.recording_broker import RecordingBroker
from rmdsl.engine.core import Engine
from rmdsl.engine.events import Event
from rmdsl.engine.memory_store import MemoryStore
from rmdsl.engine.persistence import EnforcementRecord
from rmdsl.notify import CollectingNotifier
from rmdsl.rules.model import Ruleset


@dataclass(frozen=True, slots=True)
class Fired:
    """An enforcement record with where it came from and the open P&L it acted on."""

    record: EnforcementRecord
    line: int | None  # the source line of the event that caused it
    index: int  # position of that event in the input
    unrealized: dict[str, Decimal] = field(default_factory=dict)  # contract -> open P&L


@contextmanager
def quiet_engine_logs() -> Iterator[None]:
    """Offline runs report through their own output, not the daemon's log lines."""
    logger = logging.getLogger("rmdsl")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.propagate = propagate


class OfflineRun:
    def __init__(self, ruleset: Ruleset, start: dt.datetime, simulate: bool = True) -> None:
        self.store = MemoryStore()
        self.notifier = CollectingNotifier()
        self.broker = RecordingBroker(simulate=simulate)
        self.engine = Engine(
            ruleset, self.broker, self.store, self.notifier, lambda: start, account_id=1
        )
        self.broker.state = self.engine.state
        self.fired: list[Fired] = []
        self._index = 0

    async def start(self) -> OfflineRun:
        await self.engine.start()
        return self

    async def feed(self, events: Event | Sequence[Event], line: int | None = None) -> list[Fired]:
        """Process one input item (an event, or a fill with its position update), then what
        the simulated broker produced from it: the gateway reports our orders' effects after
        the updates it had already queued."""
        out: list[Fired] = []
        pending = [events] if not isinstance(events, Sequence) else list(events)
        while pending:
            records = await self.engine.process(pending.pop(0))
            out += [self._fired(r, line) for r in records]
            pending += self.broker.take_outbox()
        self._index += 1
        self.fired += out
        return out

    async def reconcile(self, snapshot: Snapshot, line: int | None = None) -> list[Fired]:
        """Start from a broker snapshot (a test's initial state); its firings are recorded."""
        out = [self._fired(r, line) for r in await self.engine.reconcile(snapshot)]
        pending = self.broker.take_outbox()
        while pending:
            out += [self._fired(r, line) for r in await self.engine.process(pending.pop(0))]
            pending += self.broker.take_outbox()
        self.fired += out
        return out

    def _fired(self, record: EnforcementRecord, line: int | None) -> Fired:
        st = self.engine.state
        open_pnl = {c: p.view.unrealized_pnl for c, p in st.positions.items()}
        return Fired(record, line, self._index, open_pnl)

    async def finish(self) -> None:
        await self.engine.drain()
