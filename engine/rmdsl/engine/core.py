"""The engine facade: events in -> state, rule firings, lockouts, enforcement, persistence.

`Engine.process(event)` is one step on the virtual clock (time comes from the
events): resets, lockout expiries and due timers up to the event's ts first,
then the event itself, then the rules its kind triggers. The daemon feeds
`submit` and runs `run`; `rmdsl test` / `replay` call `process` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from rmdsl.contract.broker import Broker, Snapshot
from rmdsl.contract.events import (
    AccountEvent,
    ConnectionEvent,
    ConnectionState,
    Event,
    OrderEvent,
    OrderType,
    PositionEvent,
    QuoteEvent,
    TradeEvent,
)
from rmdsl.enforce.enforcer import DEFAULT_TIMEOUT_S, Enforcer
from rmdsl.enforce.goals import RetryPolicy
from rmdsl.engine import catchup, daybook, params, restore
from rmdsl.engine.clockviews import ClockViews
from rmdsl.engine.evaluate import Evaluator, Firing, TimerChanges
from rmdsl.engine.execute import Executor
from rmdsl.engine.lockouts import Lockouts, is_pause
from rmdsl.engine.origin import CAUSE, OriginBroker, Origins
from rmdsl.engine.persistence import (
    AccountStateRecord,
    EnforcementRecord,
    RulesetVersionRecord,
    StateStore,
)
from rmdsl.engine.queue import QUEUE_LIMIT, EventQueue
from rmdsl.engine.reduceonly import ReduceOnly
from rmdsl.engine.resolve import resolve
from rmdsl.engine.ruleerrors import report as report_rule_errors
from rmdsl.engine.ruleerrors import report_unreported
from rmdsl.engine.state import AccountState, TradeResult
from rmdsl.engine.tradingday import Calendar
from rmdsl.engine.writer import WriteBehind
from rmdsl.errors import StoreError
from rmdsl.lang.context import EvalContext
from rmdsl.metrics import Metrics
from rmdsl.notify import Notifier
from rmdsl.rules.model import Ruleset

log = logging.getLogger("rmdsl.engine")

_FAR = dt.datetime.max.replace(tzinfo=dt.UTC)
MAINTENANCE_INTERVAL_S = 60.0
Clock = Callable[[], dt.datetime]


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Engine:
    """One account's rules engine (see the module docstring and docs/engine.md)."""

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
    ) -> None:
        self.ruleset = ruleset
        self.broker = broker
        # every write is queued, committed by a background writer: nothing awaits the disk
        self.store = WriteBehind(store, notifier)
        self.notifier = notifier
        self.clock = clock
        self.calendar = Calendar.of(ruleset)
        self.state = AccountState(account_id)
        self.metrics = metrics or Metrics(notifier)
        self.evaluator = Evaluator(ruleset, self.state, self.metrics)
        self.lockouts = Lockouts()
        self.reduce_only = ReduceOnly()  # caps while a reduce_only(...) is active
        self.origins = Origins()  # which fills are of rmdsl's own closes
        enforcing = OriginBroker(broker, self.origins, self.state)
        self.enforcer = Enforcer(
            enforcing,
            self.store,
            notifier,
            self.metrics,
            self.state,
            timeout_s,
            retry,
            self.lockouts,
        )
        self.executor = Executor(self)
        self.queue = EventQueue(queue_limit, on_degraded=self._degraded)
        self.next_reset = _FAR
        self.trading_day: dt.date | None = None
        self.evaluating = True  # False between a disconnect and the reconcile
        # fills that came while not evaluating: evaluated (once) by the next reconcile
        self._held: dict[int, TradeEvent] = {}
        self.deferred_params: dict[str, object] = {}  # loosened values waiting for the reset
        self.closed_day: AccountStateRecord | None = None  # the previous day: late fills land
        self.clock_views = ClockViews(self.state, self.calendar)
        self._tasks: set[asyncio.Task[list[EnforcementRecord]]] = set()
        self._running = False
        self._step_lock = asyncio.Lock()  # one event, swap or reconcile at a time
        self._run_task: asyncio.Task[None] | None = None
        # the daemon's clock: told when the next due instant may have moved (a timer started,
        # a retry scheduled), so that it sends a clock event then, not only on its tick
        self.on_wakeup: Callable[[], None] = _nothing
        self._wakeup: dt.datetime | None = None
        self.enforcer.on_schedule = self._wakeup_moved
        self.enforcer.clock = clock
        self.enforcer.zone = lambda: self.ruleset.timezone  # follows hot reloads

    @property
    def ctx(self) -> EvalContext:
        return self.state.ctx

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Restore persisted state (lockouts, timers, today's trades) and begin the day."""
        now = self.clock()
        self.state.now = now
        self.state.ctx.params = self.ruleset.param_values()
        persisted = await self.store.load(self.state.account_id)
        self.trading_day = self.calendar.trading_day(now)
        self.next_reset = self.calendar.next_reset(now)
        with self.store.step():
            await restore.apply(self, persisted, now)
            self.clock_views.update()
            await self._rule_errors()
            await self._persist(self.store.record_ruleset_version(self._version(now)))

    async def stop(self) -> None:
        """Stop run(), finish enforcement in flight, save today's state, flush and close the
        store (the writer gets WriteBehind.close_timeout_s to commit what is waiting)."""
        self._running = False
        task = self._run_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for record in report_unreported(self.evaluator.errors, self.state.account_id):
            await self._persist(self.store.record_enforcement(record))
        await self._persist(self.store.save_account_state(restore.account_record(self)))
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
        """Periodic: sample RSS and persist the metric summaries."""
        self.metrics.memory()
        samples = self.metrics.samples(self.state.now, self.state.account_id)
        await self._persist(self.store.record_metrics(samples))

    def _degraded(self, depth: int) -> None:
        self.notifier.alert(
            "critical",
            "daemon degraded",
            f"event queue full ({depth} events waiting): quotes are being coalesced",
            {"depth": depth},
        )

    # ---- one step --------------------------------------------------------------------------
    async def process(self, event: Event, wait: bool = True) -> list[EnforcementRecord]:
        """Advance the clock to the event, apply it, evaluate, enforce. Returns the records.

        Holds the step lock, so a hot reload or a reconcile lands between two events.
        The step's writes are one batch, queued when it ends (after its enforcement was
        dispatched); with `wait` (`rmdsl test`, `replay`) they are committed on return.
        """
        async with self._step_lock:
            with self.store.step():
                records = await self._process(event, wait)
                if self.evaluator.errors.pending:
                    records += await self._rule_errors()
            if wait:
                await self.store.flush()
        self._wakeup_moved()
        return records

    async def _rule_errors(self) -> list[EnforcementRecord]:
        """Report the rule errors of the last step: metric, log, alert, history (ruleerrors)."""
        records = report_rule_errors(
            self.evaluator.errors, self.metrics, self.notifier, self.state.account_id
        )
        for record in records:
            await self._persist(self.store.record_enforcement(record))
        return records

    async def _process(self, event: Event, wait: bool) -> list[EnforcementRecord]:
        t0 = time.perf_counter_ns()
        records = await self._advance(event.ts, event.received_ns, wait)
        changes = TimerChanges()
        firings: list[Firing] = []
        if isinstance(event, TradeEvent):
            if not self.evaluating:
                self._hold(event)  # not applied: the reconcile evaluates it as of its ts
                return records
            if not await self._on_trade(event):
                self.metrics.event_processed(time.perf_counter_ns() - t0)
                return records
            # the fill may have closed the position: its timers and latches go now, as they
            # would at its Order or Position event (which may come later: rmdsl.engine.fills)
            self.evaluator.update_grace(changes)
        elif isinstance(event, QuoteEvent):
            self.state.apply_quote(event)
        elif isinstance(event, PositionEvent):
            firings += await self._on_position(event, changes)
        elif isinstance(event, OrderEvent):
            firings += self._on_order(event, changes)
        elif isinstance(event, AccountEvent):
            self.state.apply_account(event)
            if event.can_trade is True:
                for lifted in self.lockouts.lift_can_trade(self.state.now):
                    log.warning("lockout by %s lifted: the account can trade", lifted.rule_id)
                    await self._persist(self.store.lift_lockout(lifted.id, self.state.now))
        elif isinstance(event, ConnectionEvent):
            self._on_connection(event)
            if event.state is ConnectionState.RECONCILED and self._held:
                records += await self._catch_up_held()
        self.enforcer.settle()  # the broker's events confirm enforcement goals
        if self.evaluating:
            self.state.bind_ages()
            firings += self.evaluator.evaluate(event, changes)
            if isinstance(event, TradeEvent) and (cause := self.origins.caused_by(event.id)):
                # a fill of rmdsl's own close never re-arms the rules that sent it
                firings = [f for f in firings if f.rule_id not in cause]
        await self._save_timers(changes)
        self.metrics.event_processed(time.perf_counter_ns() - t0)
        if firings:
            records += await self._dispatch(firings, wait)
        return records

    async def _advance(
        self, ts: dt.datetime, received_ns: int, wait: bool
    ) -> list[EnforcementRecord]:
        """Run, in time order, every reset, lockout expiry, timer and retry due at or before ts.

        A timer's enforcement follows the step's `wait`: in run() it goes to a task, so a
        slow close (the SDK sleeps after one) never holds up the events behind it.
        """
        records: list[EnforcementRecord] = []
        timers = self.evaluator.timers
        self.enforcer.goals.step += 1  # what this step schedules is retried in a later one
        while True:
            timer_at = timers.next_deadline() or _FAR
            at = min(self.next_reset, self.lockouts._next_expiry, timer_at, self._retry_at())
            if at > ts:
                break
            self.state.advance(at)
            self.clock_views.update()
            if at == self.next_reset:
                await self._reset(at)
            elif at == self.lockouts._next_expiry:
                for lifted in self.lockouts.expire(at):
                    log.warning("lockout by %s lifted", lifted.rule_id)
                    await self._persist(self.store.lift_lockout(lifted.id, at))
            elif at == timer_at:
                records += await self._fire_timers(at, received_ns, wait)
            else:
                records += await self._retry(at, wait)
        if self.state.advance(ts):
            self.clock_views.update()
        return records

    async def _fire_timers(
        self, at: dt.datetime, received_ns: int, wait: bool
    ) -> list[EnforcementRecord]:
        firings: list[Firing] = []
        self.state.bind_ages()
        for rec in self.evaluator.timers.due(at):
            await self._persist(self.store.cancel_timer(rec.account_id, rec.key))
            firing = self.evaluator.fire_timer(rec, received_ns)
            if firing is not None:
                firings.append(firing)
        return await self._dispatch(firings, wait) if firings else []

    # ---- enforcement goals (rmdsl.enforce.goals) --------------------------------------------
    def _retry_at(self, this_step: bool = False) -> dt.datetime:
        return self.enforcer.next_due(this_step) or _FAR

    def next_wakeup(self) -> dt.datetime | None:
        """The engine-clock instant of the next due reset, lockout end, timer or retry: the
        daemon sends a clock event then, so a retry is not left waiting for the next tick."""
        timers = self.evaluator.timers.next_deadline() or _FAR
        at = min(self.next_reset, self.lockouts._next_expiry, timers, self._retry_at(True))
        return None if at == _FAR else at

    def _wakeup_moved(self) -> None:
        at = self.next_wakeup()
        if at != self._wakeup:
            self._wakeup = at
            self.on_wakeup()

    async def _retry(self, at: dt.datetime, wait: bool) -> list[EnforcementRecord]:
        """The goals due at `at` are taken now (so the loop moves on) and tried again."""
        due = self.enforcer.take_due(at)
        if not due:
            return []
        # a retry keeps its cause
        rules = frozenset(g.firing.rule_id for g in due)
        return await self._enforce(rules, lambda: self.enforcer.retry(due, at), wait)

    def _track(self, task: asyncio.Task[list[EnforcementRecord]]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- event kinds -----------------------------------------------------------------------
    async def _on_trade(self, event: TradeEvent) -> bool:
        """Record a fill; False for a duplicate or a closed day's fill (no rule runs)."""
        result = await self.book_trade(event)
        if result in (TradeResult.DUPLICATE, TradeResult.LATE):
            return False
        self.clock_views.refresh_fills()
        await self._persist(self.store.save_account_state(restore.account_record(self)))
        return result == TradeResult.NEW

    async def book_trade(self, event: TradeEvent) -> str:
        """Count a fill in the trading day of its own timestamp (live and reconcile alike)."""
        return await daybook.book(self, event)

    async def _on_position(self, event: PositionEvent, changes: TimerChanges) -> list[Firing]:
        before = self.state.positions.get(event.contract_id)
        pos = self.state.apply_position(event)
        if before is not None and pos is not None and pos is not before:
            self.evaluator.renew({pos.contract_id, pos.symbol}, changes)  # flipped
        if pos is None:
            self.origins.flat(event.contract_id)
            await self._persist(self.store.remove_position(self.state.account_id, event.id))
        else:
            await self._persist(self.store.upsert_position(restore.position_record(self, pos)))
        self.evaluator.update_grace(changes)
        lock = None if pos is None else self.lockouts.blocking(pos.symbol, pos.opened_at)
        if lock is None or pos is None:
            return self.reduce_only.police_position(self, event.contract_id, pos, event)
        return [self.executor.lockout_firing(lock, pos.contract_id, pos.symbol, event, "close")]

    def _on_order(self, event: OrderEvent, changes: TimerChanges) -> list[Firing]:
        self.origins.on_order(event, self.state.now)
        order = self.state.apply_order(event)
        self.evaluator.update_grace(changes)
        if order is None or event.type is OrderType.MARKET:
            return []  # a market order is (usually our own) close: it fills, nothing to cancel
        lock = self.lockouts.blocking(order.symbol, order.placed_at)
        if lock is None:
            return self.reduce_only.police_order(self, order, event)
        if is_pause(lock) and self.state.closes_position(order):
            return []  # a pause lets a stop or target protect what is already open
        return [
            self.executor.lockout_firing(lock, order.contract_id, order.symbol, event, "cancel")
        ]

    def _hold(self, event: TradeEvent) -> None:
        known = self._held.get(event.id)
        if known is None or (event.voided and not known.voided):
            self._held[event.id] = event

    def take_held(self) -> list[TradeEvent]:
        """The fills held while not evaluating (for the reconcile that catches them up)."""
        held, self._held = list(self._held.values()), {}
        return held

    async def _catch_up_held(self) -> list[EnforcementRecord]:
        """A scripted RECONCILED (no snapshot): the held fills, each as of its own ts."""
        trades = catchup.missed_trades(self, self.take_held())
        deferred = await catchup.catch_up_trades(self, trades, self.state.now)
        return await catchup.run_deferred(self, deferred)

    def _on_connection(self, event: ConnectionEvent) -> None:
        if event.state is ConnectionState.DISCONNECTED:
            self.evaluating = False  # stale state: wait for reconcile (docs/engine.md)
            log.warning("broker disconnected: evaluation paused until reconciled")
        elif event.state is ConnectionState.RECONCILED:
            self.evaluating = True

    # ---- enforcement -----------------------------------------------------------------------
    async def _dispatch(self, firings: list[Firing], wait: bool) -> list[EnforcementRecord]:
        steps = resolve(firings)
        reserved = await self.executor.reserve(steps)  # lockouts take hold before the next event
        rules = frozenset(f.rule_id for f in firings)
        return await self._enforce(rules, lambda: self.executor.run(steps, reserved), wait)

    async def _enforce(
        self,
        rules: frozenset[str],
        send: Callable[[], Coroutine[Any, Any, list[EnforcementRecord]]],
        wait: bool,
    ) -> list[EnforcementRecord]:
        """Run `send` now (wait) or as a task; the closes it sends carry `rules` as their
        cause (rmdsl.engine.origin), which a task inherits from the context it starts in."""
        cause = CAUSE.set(rules)
        try:
            if wait:
                self.store.seal()  # what caused it is not held back while the broker answers
                return await send()
            self._track(asyncio.create_task(send()))
        finally:
            CAUSE.reset(cause)
        return []

    async def drain(self) -> None:
        """Wait for enforcement tasks started by run(), then for their writes to be committed."""
        # a finished task leaves the set only in its done callback: awaiting it again would
        # never yield to that callback (a done future does not suspend)
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
        await self.flush()

    async def flush(self) -> None:
        """Wait until every write queued so far is committed (tests, `rmdsl status` freshness)."""
        await self.store.flush()

    # ---- reset, reload, reconcile ----------------------------------------------------------
    async def _reset(self, at: dt.datetime) -> None:
        old_day = self.trading_day or self.calendar.trading_day(at - dt.timedelta(microseconds=1))
        await self._persist(self.store.before_reset(self.state.account_id, old_day, at))
        before = self.calendar.last_reset(at - dt.timedelta(microseconds=1))
        self.closed_day = restore.account_record(self, last_reset=before)  # late fills land here
        self.origins.new_day()
        self.state.reset_day()
        self.clock_views.refresh_fills()
        self.state.ctx.params = self.ruleset.param_values()
        self.deferred_params.clear()
        self.evaluator.latched.clear()
        self.trading_day = self.calendar.trading_day(at)
        self.next_reset = self.calendar.next_reset(at)
        log.warning("trading day reset at %s: now %s", at.isoformat(), self.trading_day)
        await self._persist(self.store.reset_day(restore.account_record(self, last_reset=at)))

    async def swap_ruleset(self, new: Ruleset) -> None:
        """Swap atomically between two events; lockouts, timers and state are kept.

        A directional param loosened by the new ruleset keeps its old value until
        the next reset; a tightened one applies at once.
        """
        fresh, deferred = params.split(new, self.state.ctx.params)
        removed = [
            t.key
            for t in self.evaluator.timers.running.values()
            if t.rule_id != "no_stop_loss_grace" and t.rule_id not in {r.id for r in new.rules}
        ]
        async with self._step_lock:
            with self.store.step():
                await self._swap(new, fresh, deferred, removed)

    async def _swap(
        self,
        new: Ruleset,
        fresh: dict[str, object],
        deferred: dict[str, object],
        removed: list[str],
    ) -> None:
        self.ruleset = new
        self.calendar = Calendar.of(new)
        self.state.ctx.params = fresh
        self.deferred_params = deferred
        self.evaluator.set_ruleset(new)
        for key in removed:
            self.evaluator.timers.cancel(key)
        self.next_reset = self.calendar.next_reset(self.state.now)
        self.clock_views.set_calendar(self.calendar)
        for key in removed:
            await self._persist(self.store.cancel_timer(self.state.account_id, key))
        await self._persist(self.store.record_ruleset_version(self._version(self.state.now)))
        # the params in force are the day's, persisted: a restart must not apply a loosening early
        await self._persist(self.store.save_account_state(restore.account_record(self)))
        params.log_waiting(self)
        if self.evaluating:
            # a tightened limit or a new rule applies at once, not at the next matching event;
            # enforcement runs in tasks so the swap never waits on the broker
            changes = TimerChanges()
            self.state.bind_ages()
            firings = self.evaluator.evaluate_all(changes)
            await self._save_timers(changes)
            await self._rule_errors()
            if firings:
                await self._dispatch(firings, wait=False)

    async def reconcile(
        self, snapshot: Snapshot, started_ns: int | None = None, *, catch_up: bool = True
    ) -> list[EnforcementRecord]:
        """Replace positions/orders with the broker's, merge today's trades, then evaluate.

        `started_ns` (time.perf_counter_ns) is when the caller began fetching the snapshot:
        the reconciliation_ms metric then covers fetch + apply, not only the apply.
        Fills the engine had not seen are caught up as of their own time (catchup.py)
        unless `catch_up` is False (a test's initial state: history, not missed).
        """
        t0 = time.perf_counter_ns() if started_ns is None else started_ns
        async with self._step_lock:
            with self.store.step():
                records = await restore.reconcile(self, snapshot, catch_up)
                self.enforcer.settle()  # a snapshot confirms enforcement goals too
                records += await self._rule_errors()
        self.metrics.reconciled((time.perf_counter_ns() - t0) / 1e6)
        return records

    # ---- helpers ---------------------------------------------------------------------------
    async def _save_timers(self, changes: TimerChanges) -> None:
        for rec in changes.started:
            await self._persist(self.store.start_timer(rec))
        for key in changes.cancelled:
            await self._persist(self.store.cancel_timer(self.state.account_id, key))

    async def _persist(self, write: Awaitable[None]) -> None:
        """Queue a store write: self.store only appends it to the step's batch (WriteBehind)."""
        try:
            await write
        except StoreError as exc:
            log.critical("state store failure: %s", exc)
            self.notifier.alert("critical", "state store failure", str(exc), {})

    def _version(self, now: dt.datetime) -> RulesetVersionRecord:
        r = self.ruleset
        return RulesetVersionRecord(
            r.digest, r.name, r.path, now, r.files, self.state.account_id, r.timezone.key
        )


def _nothing() -> None:
    pass
