"""Run a ruleset over a list of events offline (replay, ruleset tests, benchmarks).

An Engine with a MemoryStore, a CollectingNotifier and a RecordingBroker on a
virtual clock. With `simulate`, what enforcement sends takes effect (closes
produce fills and position events); without it, state follows the recording.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from rmdsl.contract.broker import Snapshot
from rmdsl.contract.events import Event, OrderEvent, symbol_of
from rmdsl.enforce.goals import RetryPolicy
from rmdsl.enforce.recording_broker import RecordingBroker
from rmdsl.engine.core import Engine
from rmdsl.engine.persistence import EnforcementRecord, StateStore
from rmdsl.notify import CollectingNotifier
from rmdsl.rules.model import Ruleset
from rmdsl.tooling.memory_store import MemoryStore


@dataclass(frozen=True, slots=True)
class Fired:
    """An enforcement record with where it came from and the open P&L it acted on."""

    record: EnforcementRecord
    line: int | None  # the source line of the event that caused it
    index: int  # position of that event in the input
    unrealized: dict[str, Decimal] = field(default_factory=dict)  # contract -> open P&L
    symbol: str | None = None  # the target's symbol: a position's, or a cancelled order's


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
    def __init__(
        self,
        ruleset: Ruleset,
        start: dt.datetime,
        simulate: bool = True,
        *,
        store: StateStore | None = None,
        broker: RecordingBroker | None = None,
        notifier: CollectingNotifier | None = None,
    ) -> None:
        self.store: StateStore = store or MemoryStore()
        self.notifier = notifier or CollectingNotifier()
        self.broker = broker or RecordingBroker(simulate=simulate)
        # without simulated effects nothing would ever confirm a close: no retries (a replay
        # shows what the rules decided, not a broker that never answers)
        self.engine = Engine(
            ruleset,
            self.broker,
            self.store,
            self.notifier,
            lambda: start,
            account_id=1,
            retry=RetryPolicy() if self.broker.simulate else None,
        )
        self.broker.state = self.engine.state
        self.fired: list[Fired] = []
        self.order_symbols: dict[int, str] = {}  # every order seen: a cancel's symbol
        self._index = 0

    def restarted(self, ruleset: Ruleset, at: dt.datetime, store: StateStore) -> OfflineRun:
        """A new engine on `store` (its state persisted by the old one's stop) and the same
        broker, notifier and record of what fired: a daemon restart, for `rmdsl test`."""
        new = OfflineRun(ruleset, at, store=store, broker=self.broker, notifier=self.notifier)
        new.fired, new.order_symbols, new._index = self.fired, self.order_symbols, self._index
        return new

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
            event = pending.pop(0)
            if isinstance(event, OrderEvent):
                self.order_symbols[event.id] = symbol_of(event.contract_id)
            records = await self.engine.process(event)
            out += [self._fired(r, line) for r in records]
            pending += self.broker.take_outbox()
        self._index += 1
        self.fired += out
        return out

    async def reconcile(
        self, snapshot: Snapshot, line: int | None = None, catch_up: bool = False
    ) -> list[Fired]:
        """Reconcile a broker snapshot; its firings are recorded. A test's initial state is
        history (`catch_up` False); a reconnect's or restart's fills were missed: caught up
        as of their own time, as the daemon does (docs/engine.md, "Catching up")."""
        for order in snapshot.open_orders:
            self.order_symbols[order.id] = symbol_of(order.contract_id)
        records = await self.engine.reconcile(snapshot, catch_up=catch_up)
        return await self._settle(records, line)

    async def swap(self, ruleset: Ruleset, line: int | None = None) -> list[Fired]:
        """A hot reload (Engine.swap_ruleset); what it fires at once is recorded, with effects."""
        before = set(self.engine.dispatcher.tasks)
        await self.engine.swap_ruleset(ruleset)
        started = [t for t in self.engine.dispatcher.tasks if t not in before]
        results = await asyncio.gather(*started)
        return await self._settle([r for records in results for r in records], line)

    async def _settle(self, records: list[EnforcementRecord], line: int | None) -> list[Fired]:
        """`records` and those of what the simulated broker produced from them, recorded."""
        out = [self._fired(r, line) for r in records]
        pending = self.broker.take_outbox()
        while pending:
            out += [self._fired(r, line) for r in await self.engine.process(pending.pop(0))]
            pending += self.broker.take_outbox()
        self.fired += out
        return out

    def _fired(self, record: EnforcementRecord, line: int | None) -> Fired:
        st = self.engine.state
        open_pnl = {c: p.view.unrealized_pnl for c, p in st.positions.items()}
        target = record.target
        if target.startswith("order:") and target[6:].isdigit():
            symbol = self.order_symbols.get(int(target[6:]))
        else:
            symbol = symbol_of(target) if target and target != "account" else None
        return Fired(record, line, self._index, open_pnl, symbol)

    async def finish(self) -> None:
        await self.engine.drain()
