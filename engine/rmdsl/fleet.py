"""The accounts one daemon supervises: started, stopped and re-pointed as the config says.

The config names accounts by name or fnmatch glob (rmdsl.accounts); they are
resolved against the login's account list (/Account/search), each to one
AccountSupervisor. Adding an account starts its supervision (claim, snapshot,
reconcile), removing one stops it cleanly (its claim released); an account
another daemon holds is refused with the holder named, and the rest go on.

One ruleset file serves every account that names it: one watcher per file, its
reload handed to each account's engine on its own (a swap that fails on one
account leaves the others swapped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

from rmdsl.account_supervisor import AccountSupervisor, Observer, Settings
from rmdsl.accounts import AccountSpec
from rmdsl.contract.broker import Broker
from rmdsl.engine.persistence import StateStore
from rmdsl.errors import Diagnostic
from rmdsl.notify import Notifier
from rmdsl.rules.model import Ruleset
from rmdsl.store.lock import AlreadyRunningError

log = logging.getLogger("rmdsl.daemon")

Loader = Callable[[Path], Ruleset]


class AccountSource(Protocol):
    """Where accounts come from: one login (rmdsl.broker.projectx_fleet.ProjectXLogin)."""

    async def names(self) -> list[str]:
        """The login's account names (globs in the config match against these)."""

    def broker(self, name: str) -> Broker:
        """A Broker for one account, sharing the login's connection."""

    async def close(self) -> None: ...


class OneBroker:
    """A single broker as an AccountSource (`Daemon(path, broker, ...)`: one account)."""

    def __init__(self, broker: Broker) -> None:
        self.the_broker = broker
        self.name = str(getattr(broker, "account_name", "") or "account")

    async def names(self) -> list[str]:
        return [self.name]

    def broker(self, name: str) -> Broker:
        return self.the_broker

    async def close(self) -> None:
        return None


class Fleet:
    """name -> AccountSupervisor; `accounts` is by the gateway's account id (r14b: labels)."""

    def __init__(
        self,
        source: AccountSource,
        store: StateStore,
        notifier: Notifier,
        settings: Settings,
        *,
        load: Loader,
        reload: bool = True,
        observers: Sequence[Observer] = (),
        metrics: Any = None,
    ) -> None:
        self.source, self.store, self.notifier = source, store, notifier
        self.settings = settings
        self._load, self._reload = load, reload
        self.observers = list(observers)
        self._metrics = metrics  # one account's Metrics given by the caller (the single form)
        self.by_name: dict[str, AccountSupervisor] = {}
        self.refused: dict[str, Exception] = {}  # account name -> why it is not supervised
        self.watchers: dict[Path, Any] = {}  # ruleset file -> its RulesetWatcher
        self._loading: dict[Path, asyncio.Future[Ruleset]] = {}
        self._pending: dict[str, AccountSupervisor] = {}  # prepared, not started

    @property
    def starting(self) -> dict[str, AccountSupervisor]:
        """The accounts still starting, by config name (enforcing their restored state until
        their first reconcile)."""
        return dict(self._pending)

    @property
    def accounts(self) -> dict[int, AccountSupervisor]:
        """The running accounts by gateway account id."""
        return {s.account_id: s for s in self.by_name.values() if s.engine is not None}

    # ---- applying a config -------------------------------------------------------------------
    async def apply(self, specs: Sequence[AccountSpec], strict: bool = False) -> None:
        """Stop the accounts no longer named, re-point changed rulesets, start the new ones
        (at once); strict: the first failure is raised (the one-account form)."""
        wanted = {s.name: s for s in specs}
        for name in [n for n in self.by_name if n not in wanted]:
            await self.remove(name)
        for name in [n for n in self.refused if n not in wanted]:
            del self.refused[name]
        for spec in specs:
            running = self.by_name.get(spec.name)
            if running is not None and running.ruleset_path != spec.ruleset:
                await self._repoint(running, spec.ruleset)
        new = [s for s in specs if s.name not in self.by_name]
        results = await asyncio.gather(*(self.add(s) for s in new), return_exceptions=True)
        for spec, result in zip(new, results, strict=True):
            if isinstance(result, BaseException):
                if strict or not isinstance(result, Exception):
                    raise result
                self._refuse(spec.name, result)

    def prepare(self, spec: AccountSpec) -> AccountSupervisor:
        """The account's supervisor, not started yet (add() starts it)."""
        sup = self._pending.get(spec.name)
        if sup is None or sup.ruleset_path != spec.ruleset:
            sup = AccountSupervisor(
                spec.name,
                spec.ruleset,
                self.source.broker(spec.name),
                self.store,
                self.notifier,
                self.settings,
                self.observers,
            )
            if self._metrics is not None:  # the daemon's series; many: each its own errors
                many = self.settings.many
                sup.metrics = self._metrics.for_account(sup.notifier) if many else self._metrics
            self._pending[spec.name] = sup
        return sup

    async def add(self, spec: AccountSpec) -> AccountSupervisor:
        """Start supervising one account; raises what its start raises (nothing is left)."""
        sup = self.prepare(spec)
        try:
            await sup.start(await self.ruleset(spec.ruleset))
        finally:
            self._pending.pop(spec.name, None)
        self.by_name[spec.name] = sup
        self.refused.pop(spec.name, None)
        return sup

    async def remove(self, name: str) -> None:
        """Stop one account cleanly (state saved, claim released)."""
        sup = self.by_name.pop(name, None)
        if sup is None:
            return
        log.warning("account %s left the config: supervision stopped", name)
        await sup.stop()
        await self._unwatch_unused()

    async def stop(self) -> None:
        """Every account, at once (each finishes its own enforcement in flight)."""
        for watcher in self.watchers.values():
            await watcher.stop()
        self.watchers.clear()
        supervisors = list(self.by_name.values())
        await asyncio.gather(*(s.stop() for s in supervisors), return_exceptions=True)

    def _refuse(self, name: str, exc: Exception) -> None:
        why = str(exc)
        self.refused[name] = exc
        title = "account already enforced" if isinstance(exc, AlreadyRunningError) else ""
        log.error("account %s is not supervised: %s", name, why)
        self.notifier.alert(
            "critical",
            title or "account not supervised",
            f"{name}: {why}",
            {"account": name},
        )

    # ---- rulesets: one load and one watcher per file ----------------------------------------
    async def ruleset(self, path: Path) -> Ruleset:
        """The file's running ruleset; loaded (and watched) once, however many accounts
        start on it at the same time."""
        watcher = self.watchers.get(path)
        if watcher is not None and watcher.current is not None:
            return cast(Ruleset, watcher.current)
        task = self._loading.get(path)
        if task is None:
            task = asyncio.ensure_future(self._first_load(path))
            self._loading[path] = task
            task.add_done_callback(lambda _t: self._loading.pop(path, None))
        return await asyncio.shield(task)

    async def _first_load(self, path: Path) -> Ruleset:
        ruleset = await asyncio.to_thread(self._load, path)
        if self._reload and path not in self.watchers:
            await self._watch(path, ruleset)
        return ruleset

    async def _watch(self, path: Path, ruleset: Ruleset) -> None:
        from rmdsl.engine.reload import RejectionLog, RulesetWatcher

        has_log = hasattr(self.store, "record_ruleset_rejection")  # SqliteStore: `rmdsl history`
        rejections = cast(RejectionLog, self.store) if has_log else None

        async def swap(new: Ruleset) -> None:
            await self._each(path, lambda sup: sup.swap(new), "swap")

        async def refused(diagnostics: Sequence[Diagnostic]) -> None:
            await self._each(path, lambda sup: sup.refused(diagnostics), "report")

        watcher = RulesetWatcher(
            path, swap, refused, current=ruleset, rejections=rejections, load=self._load
        )
        self.watchers[path] = watcher
        await watcher.start()

    async def _each(self, path: Path, call: Callable[[AccountSupervisor], Any], what: str) -> None:
        """Hand a reload to every account on `path`, each on its own: one that fails (its
        engine refused the swap) is logged and alerted, the others are not held up."""
        members = [s for s in self.by_name.values() if s.ruleset_path == path and s.engine]
        results = await asyncio.gather(*(call(s) for s in members), return_exceptions=True)
        for sup, result in zip(members, results, strict=True):
            if isinstance(result, Exception):
                log.error("reload %s failed for %s: %s", what, sup.name, result)
                self.notifier.alert(
                    "critical",
                    "ruleset reload failed",
                    f"{sup.name}: {result}; it keeps its running ruleset",
                    {"account": sup.name},
                )

    async def _repoint(self, sup: AccountSupervisor, path: Path) -> None:
        """The config gave the account another ruleset file: swap to it (its state kept)."""
        try:
            ruleset = await self.ruleset(path)
            await sup.swap(ruleset)
        except Exception as exc:
            log.error("account %s: ruleset %s not taken: %s", sup.name, path, exc)
            self.notifier.alert(
                "critical",
                "ruleset change refused",
                f"{sup.name}: {path}: {exc}; it keeps its running ruleset",
                {"account": sup.name},
            )
            return
        sup.ruleset_path = path
        await self._unwatch_unused()

    async def _unwatch_unused(self) -> None:
        used = {s.ruleset_path for s in self.by_name.values()}
        for path in [p for p in self.watchers if p not in used]:
            await self.watchers.pop(path).stop()
