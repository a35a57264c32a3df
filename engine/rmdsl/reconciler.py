"""The daemon's reconcile: snapshot + Engine.reconcile, retried until one succeeds.

A reconcile runs at start and after every reconnect (docs/operations.md,
"Disconnects and reconciliation"). Until one succeeds the daemon is
unreconciled: the engine does not evaluate (fills are held for the catch-up),
`reconciled` is False and `unreconciled_since` says since when, the account's
`daemons` row says `not reconciled`, and past `alert_s` a critical alert is
sent once per episode (docs/decisions.md Q20). Status rows are written by an
ordered task: a slow or locked database never holds up the reconcile.

The account's events keep being applied (and what is already decided policed)
while a snapshot waits for its turn in the request budget (the broker's
`snapshot_turn`, if it has one) and while a failed attempt backs off; `pause`
(a lock the account's pump holds around each event) stops them for the reads
and the apply only, so an event that arrives during the reads is applied after
the snapshot, never overwritten by it (docs/decisions.md D18).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from rmdsl.contract.broker import Broker
from rmdsl.engine.core import Engine
from rmdsl.notify import Notifier

log = logging.getLogger("rmdsl.daemon")

RECONCILE_ALERT_MS = 10_000.0  # Q20: a reconcile that took longer is alerted
UNRECONCILED_ALERT_S = 10.0  # Q20: not reconciled for this long is alerted
FIRST_RETRY_S = 0.5
MAX_RETRY_S = 5.0
# the daemons row's status words (`rmdsl status`; "starting" and "stopped" are the claim's)
RUNNING, NOT_RECONCILED = "running", "not reconciled"


class StatusWriter(Protocol):
    """rmdsl.store.claim.AccountClaim: writes the row only while it holds the account."""

    def set_status(self, status: str, since: dt.datetime | None = None) -> Awaitable[None]: ...


class Reconciler:
    def __init__(
        self,
        broker: Broker,
        notifier: Notifier,
        status: StatusWriter,
        clock: Callable[[], dt.datetime],
        stopping: asyncio.Event,
        *,
        alert_s: float = UNRECONCILED_ALERT_S,
        retry_s: tuple[float, float] = (FIRST_RETRY_S, MAX_RETRY_S),
        pause: asyncio.Lock | None = None,
    ) -> None:
        self.broker, self.notifier, self.status, self.clock = broker, notifier, status, clock
        self.stopping = stopping
        self.pause = pause or asyncio.Lock()  # held by the account's pump around each event
        self.attempting = False  # a snapshot is under way: waiting its turn, or reading
        self._epoch = 0  # disconnects seen: a reconcile begun before one is superseded
        self.alert_s, self.retry_s = alert_s, retry_s
        self.reconcile_ms: list[float] = []  # snapshot fetched + applied, per reconcile
        self.reconciled = False
        self.unreconciled_since: dt.datetime | None = clock()
        self._since_mono: float | None = time.monotonic()
        self._alerted = False
        self.why = "start"  # what began the episode: the overdue alert names it
        self._write: asyncio.Task[None] | None = None

    async def run(self, engine: Engine, why: str) -> None:
        """Snapshot + engine reconcile, retried with backoff until one succeeds, the daemon
        stops or a disconnect supersedes it (the reconnect that follows runs its own)."""
        self.unreconciled(say=False, why=why)  # the row keeps "starting" / "not reconciled"
        delay, ceiling = self.retry_s
        epoch = self._epoch
        while not self.stopping.is_set() and epoch == self._epoch:
            try:
                if await self._once(engine, why, epoch):
                    self._reconciled()
                return
            except Exception as exc:  # BrokerError, a store or engine failure: try again
                log.warning("reconcile after %s failed (%s); retrying in %.2f s", why, exc, delay)
            self._say(NOT_RECONCILED, self.unreconciled_since)
            self.alert_if_overdue()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            delay = min(delay * 2, ceiling)

    async def _once(self, engine: Engine, why: str, epoch: int) -> bool:
        """One attempt; False when stopping or superseded. Raises what the snapshot or the
        reconcile raised. The time measured is the reads' and the apply's, not the turn's."""
        async with self._turn(), self.pause:
            if self.stopping.is_set() or epoch != self._epoch:
                return False
            started_ns = time.perf_counter_ns()
            snapshot = await self.broker.snapshot()
            if self.stopping.is_set():
                return False
            records = await engine.reconcile(snapshot, started_ns=started_ns)
        ms = (time.perf_counter_ns() - started_ns) / 1e6
        self.reconcile_ms.append(ms)
        log.info(
            "reconciled after %s in %.1f ms: %d positions, %d open orders, %d trades today, "
            "%d enforcement actions",
            why,
            ms,
            len(snapshot.positions),
            len(snapshot.open_orders),
            len(snapshot.trades_today),
            len(records),
        )
        if ms > RECONCILE_ALERT_MS:
            self.notifier.alert(
                "warning", "metric reconciliation_ms", f"reconciliation took {ms / 1000:.1f} s"
            )
        return True

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """The broker's snapshot turn (its reads' slots reserved), if it has a request budget."""
        turn: Callable[[], Any] | None = getattr(self.broker, "snapshot_turn", None)
        self.attempting = True
        try:
            if turn is None:
                yield
            else:
                async with turn():
                    yield
        finally:
            self.attempting = False

    def disconnected(self) -> None:
        """The broker is away: a reconcile under way is superseded, decisions wait."""
        self._epoch += 1
        self.unreconciled()

    def unreconciled(self, say: bool = True, why: str = "a disconnect") -> None:
        """A disconnect (or a reconcile begins): decisions wait for the next reconcile."""
        if self.reconciled or self.unreconciled_since is None:  # a new episode, begun by `why`
            self.why = why
            self.reconciled = False
            self.unreconciled_since = self.clock()
            self._since_mono = time.monotonic()
            self._alerted = False
        if say:
            self._say(NOT_RECONCILED, self.unreconciled_since)

    def _reconciled(self) -> None:
        if self._alerted:
            self.notifier.alert(
                "info", "reconciled", "the daemon is reconciled with the broker again"
            )
        self.reconciled = True
        self.unreconciled_since = self._since_mono = None
        self._alerted = False
        self._say(RUNNING, self.clock())

    def alert_if_overdue(self) -> None:
        """Once per episode, after the bound: decisions are paused on stale state."""
        since = self._since_mono
        if self._alerted or since is None or self.attempting:
            return  # a snapshot under way (its turn may take minutes) has not failed: later
        waited = time.monotonic() - since
        if waited >= self.alert_s:
            self._alerted = True
            self.notifier.alert(
                "critical",
                "not reconciled",
                f"no successful reconcile for {waited:.0f} s after {self.why}: rules are not "
                "evaluated until the broker's snapshot is reconciled (retrying); lockouts, "
                "pauses, blocks and reduce-only already in force are still enforced",
                {"since": str(self.unreconciled_since), "why": self.why},
            )

    def _say(self, status: str, since: dt.datetime | None) -> None:
        """The daemon's row for `rmdsl status`, written by a task, in order."""
        log.debug("daemon status: %s since %s", status, since)
        self._write = asyncio.create_task(
            _after(self._write, self.status.set_status(status, since)), name="rmdsl-status"
        )

    async def statuses_written(self) -> None:
        """Wait for the status rows written so far (before the store closes)."""
        if self._write is not None:
            await asyncio.gather(self._write, return_exceptions=True)


async def _after(previous: asyncio.Task[None] | None, write: Awaitable[None]) -> None:
    if previous is not None:
        await asyncio.gather(previous, return_exceptions=True)
    try:
        await write
    except Exception as exc:  # a status row must never cost enforcement
        log.warning("could not record the daemon status: %s", exc)
