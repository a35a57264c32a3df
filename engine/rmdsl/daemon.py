"""The daemon: ruleset file + broker + state store -> one engine enforcing live until a signal.

Start order: load the ruleset (an error stops here, nothing half-started), open
the store, connect the broker, take the account's lock (one daemon per account,
rmdsl.store.lock), restore the engine, reconcile from a REST snapshot, then pump
events, tick the clock and watch the ruleset for reloads.
After a disconnect the engine waits (not evaluating) until the broker is back
and a fresh snapshot has been reconciled.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import gc
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from rmdsl.alerttext import local_time
from rmdsl.contract.broker import Broker
from rmdsl.contract.events import AccountEvent, ClockEvent, ConnectionEvent, ConnectionState, Event
from rmdsl.dashboard import DashboardOptions
from rmdsl.dashboard.feed import DaemonFeed, tapped
from rmdsl.engine.core import Clock, Engine, wall_clock
from rmdsl.engine.persistence import StateStore
from rmdsl.engine.tradingday import Calendar
from rmdsl.errors import Diagnostic, render_all
from rmdsl.metrics import Metrics
from rmdsl.notify import Notifier
from rmdsl.reconciler import (
    FIRST_RETRY_S,
    MAX_RETRY_S,
    RUNNING,
    UNRECONCILED_ALERT_S,
    Reconciler,
)
from rmdsl.rules.model import Ruleset
from rmdsl.store.claim import AccountClaim

log = logging.getLogger("rmdsl.daemon")

TICK_S = 0.25
WAKE_MARGIN_S = 0.002  # a clock event for a due retry lands just after it, never before
MAINTENANCE_S = 60.0
Observer = Callable[[Event], None]
Loader = Callable[[Path], Ruleset]


def _load(path: Path) -> Ruleset:
    from rmdsl.pipeline import load_ruleset

    return load_ruleset(path)


class Daemon:
    """`await Daemon(path, broker, store, notifier).serve()` runs until SIGINT/SIGTERM or stop()."""

    def __init__(
        self,
        ruleset_path: Path | str,
        broker: Broker,
        store: StateStore,
        notifier: Notifier,
        *,
        clock: Clock = wall_clock,
        tick_s: float = TICK_S,
        maintenance_s: float = MAINTENANCE_S,
        reload: bool = True,
        timeout_s: float = 5.0,
        metrics: Metrics | None = None,
        observers: Sequence[Observer] = (),
        load: Loader = _load,
        lock_dir: Path | None = None,
        unreconciled_alert_s: float = UNRECONCILED_ALERT_S,
        retry_s: tuple[float, float] = (FIRST_RETRY_S, MAX_RETRY_S),
        dashboard: DashboardOptions | None = None,
    ) -> None:
        self.ruleset_path = Path(ruleset_path)
        self.broker, self.store, self.notifier = broker, store, notifier
        self.clock = clock
        self.tick_s, self.maintenance_s = tick_s, maintenance_s
        self.reload, self.timeout_s = reload, timeout_s
        self.metrics = metrics or Metrics(notifier)
        self.observers = list(observers)
        self._load = load
        # one daemon per account; lock_dir None: no lock (tests, the demo's simulated account)
        self.claim = AccountClaim(store, notifier, lock_dir)
        self.engine: Engine | None = None
        self.watcher: Any = None  # RulesetWatcher, imported late (watchfiles)
        self._buffer: list[Event] = []  # events that arrived before the engine existed
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = False
        self._froze_gc = False
        self._calendar: Calendar  # the loaded ruleset's, until the engine exists
        self.feed = DaemonFeed()  # records, reloads, reconnects: for the dashboard and /metrics
        self.dashboard_options = dashboard
        self.dashboard: Any = None  # rmdsl.dashboard.server.Dashboard once serving
        self._lost_broker = False
        self.reconciler = Reconciler(
            broker,
            notifier,
            self.claim,
            clock,
            self._stopping,
            alert_s=unreconciled_alert_s,
            retry_s=retry_s,
        )

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Bring everything up; on any failure undo what was started and re-raise."""
        ruleset = self._load(self.ruleset_path)  # CheckError: nothing is started yet
        self._calendar = Calendar.of(ruleset)
        ZonedFormatter.zone = ruleset.timezone
        log.info("ruleset %s (%s) loaded from %s", ruleset.name, ruleset.digest[:12], ruleset.path)
        opener = getattr(self.store, "open", None)
        if opener is not None:
            await opener()
            self.claim.report_locked_store()
        follow = getattr(self.broker, "follow_calendar", None)
        if follow is not None:  # the snapshot's trade search covers the ruleset's trading day
            follow(self._day_start)
        try:
            await self.broker.connect(self._sink)
            self._connected = True
            tame_sdk_loggers()  # the SDK created its loggers while connecting
            account_id = int(getattr(self.broker, "account_id", 0))
            await self.claim.acquire(account_id)  # before anything is enforced
            engine = Engine(
                ruleset,
                self.broker,
                tapped(self.store, self.feed),  # committed records also reach the feed
                self.notifier,
                self.clock,
                account_id=account_id,
                timeout_s=self.timeout_s,
                metrics=self.metrics,
            )
            await engine.start()
            engine.evaluating = False  # nothing is decided on state older than the snapshot
            self.engine = engine
            for event in self._buffer:
                engine.queue.put(event)
            self._buffer.clear()
            await self._reconcile("start")
        except BaseException:
            await self._teardown()
            raise
        # the SDK's ~100 MB of long-lived objects would make each full collection a pause of
        # tens of ms in the middle of an enforcement: keep them out of the collector's scans
        gc.collect()
        gc.freeze()
        self._froze_gc = True
        self._spawn(self._pump(), "rmdsl-pump")
        self._spawn(self._tick(), "rmdsl-clock")
        if self.claim.held:
            self._spawn(self.claim.heartbeat(), "rmdsl-heartbeat")
        if self.reload:
            await self._watch(ruleset)
        await self.claim.set_status(RUNNING)
        log.info("daemon running for account %s", self.engine.state.account_id)
        await self._serve_dashboard()

    async def _serve_dashboard(self) -> None:
        if self.dashboard_options is not None:
            from rmdsl.dashboard.server import serve_page

            self.dashboard = await serve_page(self, self.dashboard_options)

    def _day_start(self, _wall_now: dt.datetime) -> dt.datetime:
        """The last reset of the running ruleset (hot reloads included), on the daemon clock."""
        calendar = self.engine.calendar if self.engine is not None else self._calendar
        return calendar.last_reset(self.clock())

    async def serve(self) -> None:
        """start(), then run until SIGINT/SIGTERM (or stop()), then shut everything down."""
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)
                handled.append(sig)
        try:
            await self.start()  # a signal during start-up stops right after it
            await self._stopping.wait()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            await self.stop()

    def _on_signal(self, sig: signal.Signals) -> None:
        log.warning("%s received: shutting down", sig.name)
        self._stopping.set()

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait(self) -> None:
        await self._stopping.wait()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def stop(self) -> None:
        """Stop reloads and ticks, finish enforcement in flight, save state, then hang up."""
        self._stopping.set()
        dashboard, self.dashboard = self.dashboard, None
        if dashboard is not None:
            await dashboard.stop()
        if self.watcher is not None:
            await self.watcher.stop()
            self.watcher = None
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.engine is not None:
            await self.engine.maintenance()  # the last metric summaries for `rmdsl status`
        await self._teardown()
        if self._froze_gc:
            self._froze_gc = False
            gc.unfreeze()  # what start() kept out of collection may be garbage now
        log.info("daemon stopped")

    async def _teardown(self) -> None:
        await self.reconciler.statuses_written()  # the last reconcile status, then "stopped"
        await self.claim.set_status("stopped")
        # the engine first: enforcement in flight still needs the broker
        engine, self.engine = self.engine, None
        if engine is not None:
            await engine.stop()  # also closes the store
        else:
            with contextlib.suppress(Exception):
                await self.store.close()
        if self._connected:
            self._connected = False
            await self.broker.disconnect()
        self.claim.release()  # last: a successor starts only once this one enforces nothing

    async def set_status(self, status: str, since: dt.datetime | None = None) -> None:
        """The daemon's state for `rmdsl status` (e.g. "reconciled", "not reconciled")."""
        await self.claim.set_status(status, since)

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
        """The one consumer of the queue; a reconcile runs here, between two events."""
        engine = self.engine
        assert engine is not None
        last_maintenance = time.monotonic()
        while True:
            event = await engine.queue.get()
            engine.metrics.queue_depth(engine.queue.depth)
            try:
                await engine.process(event, wait=False)
                if isinstance(event, ConnectionEvent):
                    await self._on_connection(event)
                if time.monotonic() - last_maintenance >= self.maintenance_s:
                    last_maintenance = time.monotonic()
                    await engine.maintenance()
            except Exception:  # one bad event must never stop enforcement of the next
                log.exception("internal error processing %s; continuing", type(event).__name__)

    async def _on_connection(self, event: ConnectionEvent) -> None:
        if event.state is ConnectionState.DISCONNECTED:
            log.warning("broker disconnected: decisions paused until reconnected and reconciled")
            self.reconciler.unreconciled()
            self._lost_broker = True
        elif event.state is ConnectionState.CONNECTED:
            if self._lost_broker:
                self._lost_broker = False
                self.feed.reconnected()
            await self._reconcile("reconnect")

    async def _tick(self) -> None:
        """A clock event every tick, and one as soon as an enforcement retry falls due."""
        engine = self.engine
        assert engine is not None
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        engine.on_wakeup = wake.set  # a timer started or a retry was scheduled: maybe sooner
        tick_at, posted = loop.time() + self.tick_s, None
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
                tick_at = loop.time() + self.tick_s
            self.reconciler.alert_if_overdue("a disconnect")  # also while the broker is away

    # ---- reconcile -----------------------------------------------------------------------------
    async def _reconcile(self, why: str) -> None:
        """Reconcile now, retried until it succeeds (rmdsl.reconciler)."""
        assert self.engine is not None
        await self.reconciler.run(self.engine, why)

    @property
    def reconciled(self) -> bool:
        """The engine decides on the broker's state (False from a disconnect, or start,
        until a snapshot has been reconciled)."""
        return self.reconciler.reconciled

    @property
    def unreconciled_since(self) -> dt.datetime | None:
        return self.reconciler.unreconciled_since

    @property
    def reconcile_ms(self) -> list[float]:
        """Snapshot fetched + applied, per reconcile."""
        return self.reconciler.reconcile_ms

    # ---- hot reload --------------------------------------------------------------------------
    async def _watch(self, ruleset: Ruleset) -> None:
        from rmdsl.engine.reload import RejectionLog, RulesetWatcher

        has_log = hasattr(self.store, "record_ruleset_rejection")  # SqliteStore: `rmdsl history`
        rejections = cast(RejectionLog, self.store) if has_log else None
        self.watcher = RulesetWatcher(
            self.ruleset_path,
            self._swap,
            self._refused,
            current=ruleset,
            rejections=rejections,
        )
        await self.watcher.start()

    async def _swap(self, new: Ruleset) -> None:
        assert self.engine is not None
        await self.engine.swap_ruleset(new)
        self.feed.reloaded(self.clock(), new.name, new.digest)
        ZonedFormatter.zone = new.timezone
        text = f"{new.name} ({new.digest[:12]}) from {new.path} at {self._local_now()}"
        log.warning("ruleset reloaded: %s", text)
        self.notifier.alert("info", "ruleset reloaded", f"now enforcing {text}", {})

    async def _refused(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.feed.refused(self.clock(), diagnostics)
        self.notifier.alert(
            "warning",
            "ruleset reload refused",
            f"at {self._local_now()} the running ruleset stays active:\n" + render_all(diagnostics),
        )

    def _local_now(self) -> str:
        """Now on the running ruleset's clock, zone named: `14:02:11 CST`."""
        zone = self.engine.ruleset.timezone if self.engine is not None else dt.UTC
        return local_time(self.clock(), zone)


# ---- logging ------------------------------------------------------------------------------------
_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, plus any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _STD_ATTRS})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ZonedFormatter(logging.Formatter):
    """Text lines stamped on the running ruleset's clock, zone named
    (`2026-11-30 14:02:11,123 CST`): the times the trader's limits are written in."""

    zone: dt.tzinfo | None = None  # the daemon sets it; None: the machine's own zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        local = dt.datetime.fromtimestamp(record.created, dt.UTC).astimezone(self.zone)
        return f"{local:%Y-%m-%d %H:%M:%S},{int(record.msecs):03d} {local.tzname()}"


def configure_logging(
    fmt: str = "text", log_file: str | None = None, level: str = "info", stderr: bool = True
) -> None:
    """Root logging for the daemon: stderr and/or a file, as JSON lines or text lines."""
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else ZonedFormatter(TEXT_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)] if stderr else []
    if log_file:
        handlers.append(logging.FileHandler(Path(log_file).expanduser(), encoding="utf-8"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
    tame_sdk_loggers()


QUIET_LOGGERS = ("project_x_py", "httpx", "httpcore", "aiohttp.access", "pysignalr", "websockets")


def tame_sdk_loggers() -> None:
    """The SDK gives each of its loggers an INFO handler on stdout: route them through ours.

    stdout belongs to the command (the demo's table, --json output); the SDK's
    warnings and errors still reach the daemon's handlers through the root logger.
    """
    floor = max(logging.getLogger().level, logging.WARNING)
    # loggers named after SDK modules are created lazily (in __init__): make them all now
    names = set(logging.Logger.manager.loggerDict) | set(sys.modules)
    for name in sorted(names):
        if name == "project_x_py" or name.startswith("project_x_py."):
            logger = logging.getLogger(name)
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            # a dummy handler: the SDK configures only loggers that have none
            logger.addHandler(logging.NullHandler())
            logger.propagate = True
            logger.setLevel(floor)
