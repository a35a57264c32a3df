"""The engine facade: events in -> state, rule firings, lockouts, enforcement, persistence.

`Engine.process(event)` is one step on the virtual clock (time comes from the
events): resets, lockout expiries and due timers up to the event's ts first,
then the event itself, then the rules its kind triggers. The daemon queues
events and processes them from its own loop (`run` is the same loop without a
daemon); `rmdsl test` / `replay` call `process` directly. What a step does is
rmdsl.engine.step's; this module builds the parts and serialises the steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable

from rmdsl.contract.broker import Broker, Snapshot
from rmdsl.contract.events import Event
from rmdsl.enforce.enforcer import DEFAULT_TIMEOUT_S, Enforcer
from rmdsl.enforce.goals import RetryPolicy
from rmdsl.engine import catchup, params
from rmdsl.engine.clockviews import ClockViews
from rmdsl.engine.dispatch import Dispatcher
from rmdsl.engine.evaluate import Evaluator
from rmdsl.engine.execute import Executor
from rmdsl.engine.intake import Intake
from rmdsl.engine.journal import Journal
from rmdsl.engine.lockouts import Lockouts
from rmdsl.engine.origin import OriginBroker, Origins
from rmdsl.engine.persistence import AccountStateRecord, StateStore
from rmdsl.engine.ports import EnforcerFactory, EnforcerParts, EnforcerPort, Records
from rmdsl.engine.queue import QUEUE_LIMIT, EventQueue
from rmdsl.engine.reduceonly import ReduceOnly
from rmdsl.engine.ruleerrors import report_unreported
from rmdsl.engine.state import AccountState
from rmdsl.engine.step import Stepper
from rmdsl.engine.today import Today
from rmdsl.engine.tradingday import Calendar
from rmdsl.engine.writer import WriteBehind
from rmdsl.errors import StoreError
from rmdsl.lang.context import EvalContext
from rmdsl.metrics import Metrics
from rmdsl.notify import Notifier
from rmdsl.rules.model import Ruleset

log = logging.getLogger("rmdsl.engine")

MAINTENANCE_INTERVAL_S = 60.0
Clock = Callable[[], dt.datetime]


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Engine:
    """One account's rules engine (see the module docstring and docs/engine.md).

    A facade: it builds the parts (docs/engine.md, "Module map"), holds the step lock
    and the store's batch around each step, and hands the step to rmdsl.engine.step.
    """

    def __init__(
        self,
        ruleset: Ruleset,
        broker: Broker,
        store: StateStore,
        notifier: Notifier,
        clock: Clock = wall_clock,
        *,
        account_id: int = 0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        queue_limit: int = QUEUE_LIMIT,
        metrics: Metrics | None = None,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - frozen; None: never retry
        enforcer: EnforcerFactory = Enforcer,
    ) -> None:
        self.broker, self.notifier, self.clock = broker, notifier, clock
        # every write is queued, committed by a background writer: nothing awaits the disk
        self.store = WriteBehind(store, notifier)
        self.today = today = Today.of(ruleset)  # the ruleset in force and its trading day
        self.state = st = AccountState(account_id)
        self.metrics = metrics or Metrics(notifier)
        self.evaluator = Evaluator(ruleset, st, self.metrics)
        self.lockouts = Lockouts()
        self.origins = Origins()  # which fills are of rmdsl's own closes
        self.journal = journal = Journal(self.store, notifier, account_id)
        self.enforcer: EnforcerPort = enforcer(self._enforcer_parts(), timeout_s, retry)
        # caps while a reduce_only(...) is active (rmdsl.engine.reduceonly)
        self.reduce_only = ReduceOnly(st, self.lockouts, self.enforcer, today)
        self.executor = Executor(st, self.lockouts, self.enforcer, journal, today, self.reduce_only)
        self.dispatcher = Dispatcher(self.executor, self.store)
        self.clock_views = ClockViews(st, today.calendar)
        self.intake = Intake(
            st,
            today,
            journal,
            self.lockouts,
            self.origins,
            self.evaluator,
            self.clock_views,
            self.reduce_only,
        )
        self.stepper = Stepper(self.intake, self.enforcer, self.dispatcher, self.metrics)
        self.queue = EventQueue(queue_limit, on_degraded=self._degraded)
        self._running = False
        self._step_lock = asyncio.Lock()  # one event, swap or reconcile at a time
        self._run_task: asyncio.Task[None] | None = None
        # the daemon's clock: told when the next due instant may have moved (a timer started,
        # a retry scheduled), so that it sends a clock event then, not only on its tick
        self.on_wakeup: Callable[[], None] = _nothing
        self._wakeup: dt.datetime | None = None

    def _enforcer_parts(self) -> EnforcerParts:
        broker = OriginBroker(self.broker, self.origins, self.state)  # our closes are known
        return EnforcerParts(
            broker,
            self.store,
            self.notifier,
            self.metrics,
            self.state,
            self.lockouts,
            self.clock,
            lambda: self.today.zone,  # follows hot reloads
            self._wakeup_moved,
        )

    @property
    def ctx(self) -> EvalContext:
        return self.state.ctx

    @property
    def evaluating(self) -> bool:
        """False between a disconnect and the reconcile: nothing is decided on stale state."""
        return self.intake.evaluating

    @evaluating.setter
    def evaluating(self, value: bool) -> None:
        self.intake.evaluating = value

    # ---- the ruleset in force and its trading day (rmdsl.engine.today), read-only ----------
    @property
    def ruleset(self) -> Ruleset:
        return self.today.ruleset

    @property
    def calendar(self) -> Calendar:
        return self.today.calendar

    @property
    def trading_day(self) -> dt.date | None:
        return self.today.trading_day

    @property
    def next_reset(self) -> dt.datetime:
        return self.today.next_reset

    @property
    def closed_day(self) -> AccountStateRecord | None:
        return self.today.closed_day

    @property
    def deferred_params(self) -> dict[str, object]:
        return self.today.deferred_params

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Restore persisted state (lockouts, timers, today's trades) and begin the day."""
        now = self.clock()
        self.state.now = now
        self.state.ctx.params = self.ruleset.param_values()
        persisted = await self.store.load(self.state.account_id)
        with self.store.step():
            await self.stepper.begin(persisted, now)

    async def stop(self) -> None:
        """Stop run(), finish enforcement in flight, save today's state, flush and close the
        store (the writer gets WriteBehind.close_timeout_s to commit what is waiting)."""
        self._running = False
        task = self._run_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.dispatcher.settle()
        for record in report_unreported(self.evaluator.errors, self.state.account_id):
            await self.journal.persist(self.store.record_enforcement(record))
        await self.stepper.save_day()
        with contextlib.suppress(StoreError):
            await self.store.close()

    async def submit(self, event: Event) -> None:
        """Queue an event from the broker (never blocks, never drops a fill)."""
        self.queue.put(event)

    async def run(self) -> None:
        """Consume the queue until stop(); enforcement runs in tasks so events keep flowing."""
        self._running = True
        self._run_task = asyncio.current_task()
        last_maintenance = time.monotonic()
        try:
            while self._running:
                event = await self.queue.get()
                self.metrics.queue_depth(self.queue.depth)
                try:
                    await self.process(event, wait=False)
                except Exception as exc:  # one bad event must not stop enforcement
                    log.critical("event %r could not be processed: %s", event, exc, exc_info=True)
                    self.notifier.alert(
                        "critical", "event processing failed", f"{type(exc).__name__}: {exc}", {}
                    )
                if time.monotonic() - last_maintenance >= MAINTENANCE_INTERVAL_S:
                    last_maintenance = time.monotonic()
                    await self.maintenance()
        except asyncio.CancelledError:
            if self._running:
                raise  # cancelled by someone else than stop()

    async def maintenance(self) -> None:
        """Periodic: sample RSS and persist the metric summaries (a fleet's shared series
        once a round for all its accounts: Metrics.periodic)."""
        samples = self.metrics.periodic(self.state.now, self.state.account_id)
        if samples:
            await self.journal.persist(self.store.record_metrics(samples))

    def _degraded(self, depth: int) -> None:
        self.notifier.alert(
            "critical",
            "daemon degraded",
            f"event queue full ({depth} events waiting): quotes are being coalesced",
            {"depth": depth},
        )

    # ---- a step: an event, a hot reload or a reconcile ------------------------------------
    async def process(self, event: Event, wait: bool = True) -> Records:
        """Advance the clock to the event, apply it, evaluate, enforce. Returns the records.

        Holds the step lock, so a hot reload or a reconcile lands between two events.
        The step's writes are one batch, queued when it ends (after its enforcement was
        dispatched); with `wait` (`rmdsl test`, `replay`) they are committed on return.
        """
        async with self._step_lock:
            with self.store.step():
                records = await self.stepper.event(event, wait)
                if self.evaluator.errors.pending:
                    records += await self.stepper.rule_errors()
            if wait:
                await self.store.flush()
        self._wakeup_moved()
        return records

    async def swap_ruleset(self, new: Ruleset) -> None:
        """Swap atomically between two events; lockouts, timers and state are kept.

        A directional param loosened by the new ruleset keeps its old value until
        the next reset; a tightened one applies at once.
        """
        fresh, deferred = params.split(new, self.state.ctx.params)
        async with self._step_lock:
            with self.store.step():
                await self.stepper.swap(new, fresh, deferred)

    async def reconcile(
        self, snapshot: Snapshot, started_ns: int | None = None, *, catch_up: bool = True
    ) -> Records:
        """Replace positions/orders with the broker's, merge today's trades, then evaluate.

        `started_ns` (time.perf_counter_ns) is when the caller began fetching the snapshot:
        the reconciliation_ms metric then covers fetch + apply, not only the apply.
        Fills the engine had not seen are caught up as of their own time (catchup.py)
        unless `catch_up` is False (a test's initial state: history, not missed).
        """
        t0 = time.perf_counter_ns() if started_ns is None else started_ns
        async with self._step_lock:
            now = max(self.state.now, self.clock())
            clockwork = self.stepper.clockwork
            with self.store.step():
                records = await catchup.reconcile(
                    self.intake, self.dispatcher, clockwork, snapshot, now, catch_up
                )
                self.enforcer.settle()  # a snapshot confirms enforcement goals too
                records += await self.stepper.rule_errors()
        self.metrics.reconciled((time.perf_counter_ns() - t0) / 1e6)
        return records

    # ---- the daemon's clock, enforcement in flight -------------------------------------------
    def next_wakeup(self) -> dt.datetime | None:
        """The engine-clock instant of the next due reset, lockout end, timer or retry: the
        daemon sends a clock event then, so a retry is not left waiting for the next tick."""
        return self.stepper.clockwork.next_wakeup()

    def _wakeup_moved(self) -> None:
        at = self.next_wakeup()
        if at != self._wakeup:
            self._wakeup = at
            self.on_wakeup()

    async def drain(self) -> None:
        """Wait for enforcement tasks started by run(), then for their writes to be committed."""
        await self.dispatcher.settle()
        await self.flush()

    async def flush(self) -> None:
        """Wait until every write queued so far is committed (tests, `rmdsl status` freshness)."""
        await self.store.flush()


def _nothing() -> None:
    pass
