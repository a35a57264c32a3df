"""One account under a daemon: its broker, claim, engine, reconciler, event pump and clock.

Start order: the ruleset (an error stops here, nothing half-started), the
broker's connect (the account on the login's connection), the account's claim
(rmdsl.store.claim: one daemon per account), the engine restored from the
state database; from then on the pump (the one consumer of the account's queue)
and the clock run as the account's own tasks, and a reconcile from a REST
snapshot follows (start() returns once it has succeeded). Until then, and
after a disconnect until the broker is back and a fresh snapshot has been
reconciled, the engine does not evaluate: events are applied, and what is
already decided (a restored lockout, pause, block, reduce-only) is policed,
but nothing new is decided (docs/operations.md, "Before its first reconcile").

Each account has its own queue, pump and clock tasks, so a slow broker call, a
failing reload or a rule error on one account never holds up another's
enforcement (docs/operations.md, "Many accounts"). The state database is shared
(every row is keyed by account id): an account's engine never closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from rmdsl.alerttext import for_account, local_time
from rmdsl.contract.broker import Broker
from rmdsl.contract.events import AccountEvent, ClockEvent, ConnectionEvent, ConnectionState, Event
from rmdsl.dashboard.feed import DaemonFeed, tapped
from rmdsl.engine.core import Clock, Engine
from rmdsl.engine.persistence import StateStore
from rmdsl.engine.tradingday import Calendar
from rmdsl.errors import Diagnostic, render_all
from rmdsl.metrics import Metrics
from rmdsl.notify import Notifier
from rmdsl.reconciler import RUNNING, Reconciler
from rmdsl.rules.model import Ruleset
from rmdsl.store.claim import AccountClaim

log = logging.getLogger("rmdsl.daemon")

WAKE_MARGIN_S = 0.002  # a clock event for a due retry lands just after it, never before
Observer = Callable[[Event], None]


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """What every account of a daemon runs with (rmdsl.daemon.Daemon's keyword options)."""

    clock: Clock
    tick_s: float
    maintenance_s: float
    timeout_s: float
    lock_dir: Path | None  # None: no account lock (tests, the demo's simulated account)
    unreconciled_alert_s: float
    retry_s: tuple[float, float]
    many: bool = False  # several accounts: alert texts start with the account's name


class AccountSupervisor:
    """`await sup.start(ruleset)` ... `await sup.stop()`; `name` is the account's config name."""

    def __init__(
        self,
        name: str,
        ruleset_path: Path,
        broker: Broker,
        store: StateStore,
        notifier: Notifier,
        settings: Settings,
        observers: Sequence[Observer] = (),
    ) -> None:
        self.name, self.ruleset_path = name, ruleset_path
        if settings.many:  # every alert of the account names it (rmdsl.alerttext)
            notifier = for_account(notifier, name)
        self.broker, self.store, self.notifier = broker, store, notifier
        self.settings = settings
        self.clock: Clock = settings.clock
        self.observers = list(observers)
        self.metrics = Metrics(notifier)
        self.claim = AccountClaim(store, notifier, settings.lock_dir)
        self.engine: Engine | None = None
        self.feed = DaemonFeed()  # records, reloads, reconnects: for the dashboard and /metrics
        self.stopping = asyncio.Event()  # the daemon stops, or the account left the config
        self.pause = asyncio.Lock()  # the pump holds it per event; a reconcile, for its reads
        self.reconciler = Reconciler(
            broker,
            notifier,
            self.claim,
            self.clock,
            self.stopping,
            alert_s=settings.unreconciled_alert_s,
            retry_s=settings.retry_s,
            pause=self.pause,
        )
        self._reconnect: asyncio.Task[None] | None = None
        self._buffer: list[Event] = []  # events that arrived before the engine existed
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = False
        self._lost_broker = False
        self._calendar: Calendar | None = None  # the ruleset's, until the engine exists

    @property
    def account_id(self) -> int:
        """The gateway's id of the account (0 until connected)."""
        return self.engine.state.account_id if self.engine is not None else 0

    @property
    def ruleset(self) -> Ruleset | None:
        return self.engine.ruleset if self.engine is not None else None

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self, ruleset: Ruleset) -> None:
        """Connect, claim, restore, reconcile, run; on a failure undo it all and re-raise."""
        self._calendar = Calendar.of(ruleset)
        follow = getattr(self.broker, "follow_calendar", None)
        if follow is not None:  # the snapshot's trade search covers the ruleset's trading day
            follow(self._day_start)
        try:
            await self.broker.connect(self._sink)
            self._connected = True
            account_id = int(getattr(self.broker, "account_id", 0))
            await self.claim.acquire(account_id)  # before anything is enforced
            engine = Engine(
                ruleset,
                self.broker,
                tapped(borrowed(self.store), self.feed),  # committed records reach the feed
                self.notifier,
                self.clock,
                account_id=account_id,
                timeout_s=self.settings.timeout_s,
                metrics=self.metrics,
            )
            await engine.start()
            engine.evaluating = False  # nothing is decided on state older than the snapshot
            self.engine = engine
            for event in self._buffer:
                engine.queue.put(event)
            self._buffer.clear()
            # what the database says is decided is policed from now, not from the reconcile
            # (which may wait minutes for its turn in a login's request budget)
            self._spawn(self._pump(), f"rmdsl-pump-{account_id}")
            self._spawn(self._tick(), f"rmdsl-clock-{account_id}")
            log.info("%s: enforcing restored state until its first reconcile", self.name)
            await self.reconciler.run(engine, "start")
        except BaseException:
            await self._cancel_tasks()
            await self._teardown()
            raise
        if self.claim.held:
            self._spawn(self.claim.heartbeat(), f"rmdsl-heartbeat-{account_id}")
        if self.reconciler.reconciled:  # else a disconnect came first: its reconnect says so
            await self.claim.set_status(RUNNING)
        log.info("supervising account %s (%s) with %s", self.name, account_id, ruleset.name)

    async def stop(self) -> None:
        """Stop the clock and pump, finish enforcement in flight, save state, release the
        account (its claim last: a successor starts only once this one enforces nothing)."""
        self.stopping.set()
        await self._cancel_tasks()
        if self.engine is not None:
            with contextlib.suppress(Exception):
                await self.engine.maintenance()  # the last metric summaries for `rmdsl status`
        await self._teardown()

    async def _cancel_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        if self._reconnect is not None:
            tasks.append(self._reconnect)
            self._reconnect = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _teardown(self) -> None:
        await self.reconciler.statuses_written()  # the last reconcile status, then "stopped"
        await self.claim.set_status("stopped")
        # the engine first: enforcement in flight still needs the broker
        engine, self.engine = self.engine, None
        if engine is not None:
            await engine.stop()  # flushes its writes; the shared store stays open
        if self._connected:
            self._connected = False
            await self.broker.disconnect()
        self.claim.release()

    def _day_start(self, _wall_now: dt.datetime) -> dt.datetime:
        """The last reset of the running ruleset (hot reloads included), on the daemon clock."""
        calendar = self.engine.calendar if self.engine is not None else self._calendar
        assert calendar is not None
        return calendar.last_reset(self.clock())

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    # ---- events --------------------------------------------------------------------------------
    async def _sink(self, event: Event) -> None:
        """The broker's sink: never blocks; stamps clock-less events with the daemon's clock."""
        if isinstance(event, AccountEvent | ConnectionEvent):
            # the gateway sends no time with these: the adapter stamped the wall clock, and
            # the engine's clock (virtual in the demo) must not be pushed ahead by them
            event = dataclasses.replace(event, ts=self.clock())
        for observe in self.observers:
            try:
                observe(event)
            except Exception:  # a display must never cost an event
                log.exception("event observer failed")
        if self.engine is None:
            self._buffer.append(event)
        else:
            self.engine.queue.put(event)

    async def _pump(self) -> None:
        """The one consumer of the account's queue; a reconcile pauses it (`pause`) for its
        reads and apply only, so what arrives meanwhile is applied after the snapshot."""
        engine = self.engine
        assert engine is not None
        last_maintenance = time.monotonic()
        while True:
            event = await engine.queue.get()
            engine.metrics.queue_depth(engine.queue.depth)
            try:
                async with self.pause:
                    await engine.process(event, wait=False)
                if isinstance(event, ConnectionEvent):
                    self._on_connection(event)
                if time.monotonic() - last_maintenance >= self.settings.maintenance_s:
                    last_maintenance = time.monotonic()
                    await engine.maintenance()
            except Exception:  # one bad event must never stop enforcement of the next
                log.exception("internal error processing %s; continuing", type(event).__name__)

    def _on_connection(self, event: ConnectionEvent) -> None:
        engine = self.engine
        assert engine is not None
        if event.state is ConnectionState.DISCONNECTED:
            log.warning("%s: broker disconnected: decisions paused until reconciled", self.name)
            self.reconciler.disconnected()  # a reconcile under way gives up at its next step
            self._lost_broker = True
        elif event.state is ConnectionState.CONNECTED:
            if self._lost_broker:
                self._lost_broker = False
                self.feed.reconnected()
            if self._reconnect is not None:
                self._reconnect.cancel()  # superseded: this reconnect's snapshot is newer
            # a task: the pump goes on (policing) while the snapshot waits its turn or a
            # failed attempt backs off
            self._reconnect = asyncio.create_task(
                self.reconciler.run(engine, "reconnect"), name=f"rmdsl-reconcile-{self.name}"
            )

    async def _tick(self) -> None:
        """A clock event every tick, and one as soon as an enforcement retry falls due."""
        engine = self.engine
        assert engine is not None
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        engine.on_wakeup = wake.set  # a timer started or a retry was scheduled: maybe sooner
        tick_s = self.settings.tick_s
        tick_at, posted = loop.time() + tick_s, None
        while True:
            wake.clear()
            due, at = engine.next_wakeup(), tick_at
            if due is not None and due != posted:
                at = min(at, loop.time() + (due - self.clock()).total_seconds() + WAKE_MARGIN_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), max(at - loop.time(), 0.0))
            if loop.time() < at:
                continue  # woken by a new schedule: work out the wait again
            now = self.clock()
            engine.queue.put(ClockEvent(now))
            if due is not None and now >= due:
                posted = due  # one clock event per due instant, even if the queue is slow
            if loop.time() >= tick_at:
                tick_at = loop.time() + tick_s
            self.reconciler.alert_if_overdue()  # also while the broker is away

    # ---- hot reload (the fleet's watcher of the ruleset file calls these) --------------------
    async def swap(self, new: Ruleset) -> None:
        assert self.engine is not None
        await self.engine.swap_ruleset(new)
        self.feed.reloaded(self.clock(), new.name, new.digest)
        text = f"{new.name} ({new.digest[:12]}) from {new.path} at {self.local_now()}"
        log.warning("ruleset reloaded for %s: %s", self.name, text)
        self.notifier.alert(
            "info", "ruleset reloaded", f"{self._who}now enforcing {text}", self._labels()
        )

    async def refused(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.feed.refused(self.clock(), diagnostics)
        self.notifier.alert(
            "warning",
            "ruleset reload refused",
            f"{self._who}at {self.local_now()} the running ruleset stays active:\n"
            + render_all(diagnostics),
            self._labels(),
        )

    @property
    def _who(self) -> str:
        return f"{self.name}: " if self.settings.many else ""

    def _labels(self) -> dict[str, Any]:
        return {"account": self.name, "account_id": self.account_id}

    def local_now(self) -> str:
        """Now on the running ruleset's clock, zone named: `14:02:11 CST`."""
        zone = self.engine.ruleset.timezone if self.engine is not None else dt.UTC
        return local_time(self.clock(), zone)


class _Borrowed:
    """The daemon's state database lent to one account's engine: everything passes through
    except close(), which is the daemon's, once every account has stopped."""

    def __init__(self, inner: StateStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def close(self) -> None:
        return None


def borrowed(store: StateStore) -> StateStore:
    return cast(StateStore, _Borrowed(store))
