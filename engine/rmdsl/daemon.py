"""The daemon process: one state database, one login, many accounts, until a signal.

`Daemon(ruleset, broker, store, notifier)` enforces one account (the form the demo
and most tests use); `Daemon.for_accounts(entries, source, store, notifier)`
supervises every account the config names under one login (rmdsl.fleet: each
account its own engine, claim, queue and tasks, rmdsl.account_supervisor), and
follows edits of the config file (`reconfigure`). Start order: open the store,
start the accounts, then serve the dashboard; stop: the accounts (each finishes
its enforcement in flight), the login, the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from rmdsl.account_supervisor import AccountSupervisor, Observer, Settings
from rmdsl.accounts import AccountEntry, AccountSpec, resolve
from rmdsl.contract.broker import Broker
from rmdsl.dashboard import DashboardOptions
from rmdsl.dashboard.feed import DaemonFeed
from rmdsl.engine.core import Clock, Engine, wall_clock
from rmdsl.engine.persistence import StateStore
from rmdsl.errors import BrokerError
from rmdsl.fleet import AccountSource, Fleet, OneBroker
from rmdsl.logsetup import QUIET_LOGGERS as QUIET_LOGGERS  # rmdsl.daemon's logging names
from rmdsl.logsetup import TEXT_FORMAT as TEXT_FORMAT
from rmdsl.logsetup import JsonFormatter as JsonFormatter
from rmdsl.logsetup import ZonedFormatter as ZonedFormatter
from rmdsl.logsetup import configure_logging as configure_logging
from rmdsl.logsetup import tame_sdk_loggers as tame_sdk_loggers
from rmdsl.metrics import Metrics
from rmdsl.notify import Notifier
from rmdsl.reconciler import FIRST_RETRY_S, MAX_RETRY_S, UNRECONCILED_ALERT_S, Reconciler
from rmdsl.rules.model import Ruleset
from rmdsl.store.claim import AccountClaim

log = logging.getLogger("rmdsl.daemon")

TICK_S = 0.25
MAINTENANCE_S = 60.0
Loader = Callable[[Path], Ruleset]
# the config file again (ConfigError when it is broken): the accounts it names now
Reconfigure = Callable[[], Awaitable[Sequence[AccountEntry]]]


def _load(path: Path) -> Ruleset:
    from rmdsl.pipeline import load_ruleset

    return load_ruleset(path)


class Daemon:
    """`await Daemon(path, broker, store, notifier).serve()` runs until SIGINT/SIGTERM or stop()."""

    def __init__(
        self,
        ruleset_path: Path | str | None,
        broker: Broker | None,
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
        accounts: Sequence[AccountEntry] = (),
        source: AccountSource | None = None,
        reconfigure: Reconfigure | None = None,
        config_path: Path | None = None,
    ) -> None:
        self.store, self.notifier, self._clock = store, notifier, clock
        self.reload = reload
        self.single = broker is not None  # the one-account form: its errors stop the daemon
        if broker is not None:
            assert ruleset_path is not None, "one account: its ruleset file"
            source = OneBroker(broker)
            accounts = [AccountEntry(source.name, Path(ruleset_path))]
        assert source is not None, "accounts need a source (a login)"
        self.source, self.entries = source, list(accounts)
        times = (tick_s, maintenance_s, timeout_s, lock_dir, unreconciled_alert_s, retry_s)
        self._metrics = metrics or Metrics(notifier)
        settings = Settings(clock, *times, many=not self.single)
        self.fleet = self._fleet(settings, load, observers, metrics)
        self.reconfigure, self.config_path = reconfigure, config_path
        self.dashboard_options = dashboard
        self._process_state()

    def _fleet(
        self,
        settings: Settings,
        load: Loader,
        observers: Sequence[Observer],
        metrics: Metrics | None,
    ) -> Fleet:
        """Many accounts share the daemon's one set of latency series (per-account ones would
        cost ~300 KB an account and a scrape would sort them all); per-account figures come
        from each account's feed (rmdsl.dashboard.prom_accounts)."""
        return Fleet(
            self.source,
            self.store,
            self.notifier,
            settings,
            load=load,
            reload=self.reload,
            observers=observers,
            metrics=metrics if self.single else self._metrics,
        )

    def _process_state(self) -> None:
        self.config_watcher: Any = None  # rmdsl.configwatch.ConfigWatcher while watching
        self.dashboard: Any = None  # rmdsl.dashboard.server.Dashboard once serving
        self._primary: AccountSupervisor | None = None  # the first account (single-form views)
        if self.single:  # its reconcile status and claim exist before start, as they did
            entry = self.entries[0]
            self._primary = self.fleet.prepare(AccountSpec(entry.pattern, entry.ruleset))
        self._stopping = asyncio.Event()
        self._froze_gc = False

    @classmethod
    def for_accounts(
        cls,
        accounts: Sequence[AccountEntry],
        source: AccountSource,
        store: StateStore,
        notifier: Notifier,
        **options: Any,
    ) -> Daemon:
        """Every account `accounts` names (names or globs) under the one login `source`."""
        return cls(None, None, store, notifier, accounts=accounts, source=source, **options)

    # ---- the accounts (rmdsl.fleet) ------------------------------------------------------------
    @property
    def accounts(self) -> dict[int, AccountSupervisor]:
        """The running accounts by gateway account id: .name .engine .ruleset .feed .metrics"""
        return self.fleet.accounts

    @property
    def unrouted(self) -> int:
        """Events of the login's other accounts, not supervised here: dropped, counted."""
        live = getattr(self.source, "live", None) or getattr(self.broker, "live", None)
        return int(live.routes.unrouted) if live is not None else 0

    async def apply(self, entries: Sequence[AccountEntry]) -> None:
        """Supervise exactly the accounts `entries` name now (a config reload lands here)."""
        specs, unmatched = resolve(entries, await self.source.names())
        for pattern in unmatched:
            log.warning("accounts: `%s` matches no account of the login", pattern)
        self.entries = list(entries)
        await self.fleet.apply(specs, strict=self.single)
        if self._primary is None or self._primary.name not in self.fleet.by_name:
            running = list(self.fleet.by_name.values())
            self._primary = running[0] if running else self._primary

    # ---- lifecycle ---------------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        """The clock every account's engine was built with: read-only, since a clock set
        after construction would reach the dashboard but not the engines."""
        return self._clock

    async def start(self) -> None:
        """Bring everything up; on any failure undo what was started and re-raise."""
        if self.single:  # an invalid ruleset stops here: nothing is started yet
            try:
                await self.fleet.ruleset(self.entries[0].ruleset)
            except BaseException:
                await self.fleet.stop()
                raise
        opener = getattr(self.store, "open", None)
        try:
            if opener is not None:
                await opener()
                AccountClaim(self.store, self.notifier, None).report_locked_store()
            await self.apply(self.entries)
            if not self.fleet.by_name:  # nothing to enforce: say why, as one account would
                raise next(iter(self.fleet.refused.values()), None) or BrokerError(
                    "no account of the login matches the config's accounts: "
                    + ", ".join(await self.source.names())
                )
        except BaseException:
            await self._teardown()
            raise
        tame_sdk_loggers()  # the SDK created its loggers while connecting
        if self.engine is not None:
            ZonedFormatter.zone = self.engine.ruleset.timezone
        # the SDK's ~100 MB of long-lived objects would make each full collection a pause of
        # tens of ms in the middle of an enforcement: keep them out of the collector's scans
        gc.collect()
        gc.freeze()
        self._froze_gc = True
        await self._watch_config()
        names = ", ".join(f"{s.name} ({s.account_id})" for s in self.fleet.by_name.values())
        log.info("daemon running for account%s %s", "s" * (len(self.fleet.by_name) > 1), names)
        await self._serve_dashboard()

    async def _watch_config(self) -> None:
        if self.reconfigure is not None and self.config_path is not None and self.reload:
            from rmdsl.configwatch import ConfigWatcher

            self.config_watcher = ConfigWatcher(self.config_path, self._reconfigured, self.notifier)
            await self.config_watcher.start()

    async def _reconfigured(self) -> None:
        assert self.reconfigure is not None
        entries = await self.reconfigure()  # ConfigError: the watcher keeps the running config
        await self.apply(entries)

    async def _serve_dashboard(self) -> None:
        if self.dashboard_options is not None:
            from rmdsl.dashboard.server import serve_page

            self.dashboard = await serve_page(self, self.dashboard_options)

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
        """Stop reloads, every account (enforcement in flight finished), the login, the store."""
        self._stopping.set()
        dashboard, self.dashboard = self.dashboard, None
        if dashboard is not None:
            await dashboard.stop()
        watcher, self.config_watcher = self.config_watcher, None
        if watcher is not None:
            await watcher.stop()
        await self._teardown()
        if self._froze_gc:
            self._froze_gc = False
            gc.unfreeze()  # what start() kept out of collection may be garbage now
        log.info("daemon stopped")

    async def _teardown(self) -> None:
        await self.fleet.stop()  # each account: engine, broker view, claim (last)
        if not self.single:
            with contextlib.suppress(Exception):
                await self.source.close()
        with contextlib.suppress(Exception):
            await self.store.close()

    # ---- the first account, as the one-account form and the dashboard see it ------------------
    @property
    def primary(self) -> AccountSupervisor | None:
        return self._primary

    @property
    def engine(self) -> Engine | None:
        return self._primary.engine if self._primary is not None else None

    @property
    def broker(self) -> Broker | None:
        return self._primary.broker if self._primary is not None else None

    @property
    def feed(self) -> DaemonFeed:
        return self._primary.feed if self._primary is not None else DaemonFeed()

    @property
    def metrics(self) -> Metrics:
        return self._primary.metrics if self._primary is not None else self._metrics

    @property
    def claim(self) -> AccountClaim | None:
        return self._primary.claim if self._primary is not None else None

    @property
    def reconciler(self) -> Reconciler | None:
        return self._primary.reconciler if self._primary is not None else None

    @property
    def watcher(self) -> Any:
        """The first account's ruleset watcher (None without reload)."""
        sup = self._primary
        return self.fleet.watchers.get(sup.ruleset_path) if sup is not None else None

    @property
    def ruleset_path(self) -> Path | None:
        return self._primary.ruleset_path if self._primary is not None else None

    async def _reconcile(self, why: str) -> None:
        """Reconcile the first account now (tests, the reconcile bench)."""
        assert self._primary is not None and self._primary.engine is not None
        await self._primary.reconciler.run(self._primary.engine, why)

    async def set_status(self, status: str, since: dt.datetime | None = None) -> None:
        if self._primary is not None:
            await self._primary.claim.set_status(status, since)

    @property
    def reconciled(self) -> bool:
        """Every account decides on the broker's state (False from a disconnect, or start,
        until a snapshot has been reconciled)."""
        sups = list(self.fleet.by_name.values())
        return bool(sups) and all(s.reconciler.reconciled for s in sups)

    @property
    def unreconciled_since(self) -> dt.datetime | None:
        return self._primary.reconciler.unreconciled_since if self._primary else None

    @property
    def reconcile_ms(self) -> list[float]:
        """Snapshot fetched + applied, per reconcile (the first account's)."""
        return self._primary.reconciler.reconcile_ms if self._primary else []
