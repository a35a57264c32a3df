"""WriteBehind: the engine's StateStore. Writes -> per-step batches -> one background writer.

No enforcement waits on the disk: a write method only appends to the open batch and
returns. The engine closes the batch at the end of each step, after the step's
enforcement was dispatched, and one writer task commits the batches in order, each
in one `StateStore.apply` transaction (the batches waiting are merged into one when
the disk is slower than the events). A failed commit is kept and retried with
backoff, alerted once per outage: a locked or full disk delays persistence, never
enforcement. What a kill -9 can lose, and how start-up recovers it: docs/engine.md,
"Persistence".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rmdsl.engine.persistence import (
    EnforcementRecord,
    PersistedState,
    StateStore,
    Write,
)
from rmdsl.engine.single_writes import SingleWrites
from rmdsl.errors import StoreError
from rmdsl.notify import Notifier

log = logging.getLogger("rmdsl.engine.writer")

RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
# a batch failing for another reason than a busy, locked, full or failing disk (a bug, a
# constraint) is dropped after this many attempts rather than blocking every later write
GIVE_UP_AFTER = 5
CLOSE_TIMEOUT_S = 10.0

Barrier = Callable[[], Awaitable[None]]  # a store call outside any transaction (the backup)


def transient(exc: BaseException) -> bool:
    """A store failure that goes away by itself (another process's lock, a full disk):
    the store says so from the error's kind (rmdsl.store.db.is_transient), not its text."""
    return isinstance(exc, StoreError) and exc.transient


class WriteBehind(SingleWrites):
    """Implements StateStore over `inner`; see the module docstring."""

    def __init__(
        self,
        inner: StateStore,
        notifier: Notifier,
        *,
        retry_first_s: float = RETRY_FIRST_S,
        retry_max_s: float = RETRY_MAX_S,
        close_timeout_s: float = CLOSE_TIMEOUT_S,
    ) -> None:
        self.inner = inner
        self.notifier = notifier
        self.retry_first_s = retry_first_s
        self.retry_max_s = retry_max_s
        self.close_timeout_s = close_timeout_s
        self.failing_since: float | None = None  # monotonic s of the first failed commit
        self.commits = 0  # transactions committed
        self.dropped = 0  # writes given up on (never for a locked, busy or full disk)
        self._open: list[Write] = []
        self._steps = 0
        self._auto_seal = False
        self._queue: deque[list[Write] | Barrier] = deque()
        self._inflight = 0  # writes of the batch being committed
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[Any] | None = None  # the writer (or a caller flushing inline)

    @property
    def backlog(self) -> int:
        """Writes accepted and not yet committed."""
        queued = sum(len(i) for i in self._queue if isinstance(i, list))
        return len(self._open) + queued + self._inflight

    # ---- batching ----------------------------------------------------------------------------
    @contextmanager
    def step(self) -> Iterator[None]:
        """Everything written inside goes into one batch, queued when the step ends."""
        self._steps += 1
        try:
            yield
        finally:
            self._steps -= 1
            if self._steps == 0:
                self.seal()

    def seal(self) -> None:
        """Queue the open batch for the writer (never waits)."""
        if self._open:
            batch, self._open = self._open, []
            self._enqueue(batch)

    def _add(self, write: Write) -> None:
        self._open.append(write)
        if self._steps == 0 and not self._auto_seal:
            # a write outside a step (an enforcement record): the writes of this loop
            # iteration (a flatten's concurrent closes) share one batch
            self._auto_seal = True
            asyncio.get_running_loop().call_soon(self._seal_soon)

    def _seal_soon(self) -> None:
        self._auto_seal = False
        if self._steps == 0:
            self.seal()

    def _enqueue(self, item: list[Write] | Barrier) -> None:
        self._queue.append(item)
        self._idle.clear()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._drain_queue(), name="rmdsl-store-writer"
            )

    async def flush(self) -> None:
        """Queue the open batch and wait until everything written so far is committed.

        With no writer task running, the caller commits inline (`rmdsl test` and `replay`
        flush after every event: no task to start and switch to each time).
        """
        self.seal()
        if self._task is None and self._queue:
            self._task = asyncio.current_task()  # marks the writer busy: no second one starts
            await self._drain_queue()
        await self._idle.wait()

    # ---- the writer task ---------------------------------------------------------------------
    async def _drain_queue(self) -> None:
        try:
            while self._queue:
                item = self._queue.popleft()
                if isinstance(item, list):
                    batch = self._merge(item)
                    self._inflight = len(batch)
                    try:
                        await self._commit(batch)
                    finally:
                        self._inflight = 0
                else:
                    await self._barrier(item)
        finally:
            self._task = None
            if not self._queue:
                self._idle.set()
            else:  # cancelled with work left (close timed out): nothing will run it now
                log.critical("%d state writes were not persisted", self.backlog)

    def _merge(self, first: list[Write]) -> list[Write]:
        """The batches waiting behind `first`, up to the next barrier: one transaction."""
        batch = list(first)
        while self._queue:
            head = self._queue[0]
            if not isinstance(head, list):
                break
            batch += head
            self._queue.popleft()
        return batch

    async def _commit(self, writes: list[Write]) -> None:
        delay, attempts = self.retry_first_s, 0
        while True:
            try:
                await self.inner.apply(writes)
            except Exception as exc:
                attempts += 1
                self._failed(exc, len(writes))
                if not transient(exc) and attempts >= GIVE_UP_AFTER:
                    self._drop(exc, len(writes))
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)
                continue
            self.commits += 1
            self._recovered()
            return

    async def _barrier(self, call: Barrier) -> None:
        try:
            await call()
        except Exception as exc:  # a backup is best effort: alert, go on with the writes
            log.critical("state store failure: %s", exc)
            self.notifier.alert("critical", "state store failure", str(exc), {})

    def _failed(self, exc: BaseException, count: int) -> None:
        if self.failing_since is not None:
            log.warning("state store still failing (%d writes waiting): %s", self.backlog, exc)
            return
        self.failing_since = time.monotonic()
        log.critical("state store failure: %s (%d writes kept and retried)", exc, count)
        self.notifier.alert(
            "critical",
            "state store failure",
            f"{exc}\nwrites are kept in memory and retried; enforcement goes on",
            {"waiting": count},
        )

    def _recovered(self) -> None:
        if self.failing_since is None:
            return
        took = time.monotonic() - self.failing_since
        self.failing_since = None
        log.warning("state store writable again after %.1f s", took)
        self.notifier.alert(
            "info", "state store recovered", f"writes committed again after {took:.1f} s", {}
        )

    def _drop(self, exc: BaseException, count: int) -> None:
        self.dropped += count
        self.failing_since = None
        log.critical(
            "state store: %d writes dropped after %d attempts: %s", count, GIVE_UP_AFTER, exc
        )
        self.notifier.alert(
            "critical", "state writes dropped", f"{count} writes could not be stored: {exc}", {}
        )

    # ---- StateStore: reads and lifecycle ------------------------------------------------------
    async def load(self, account_id: int) -> PersistedState:
        await self.flush()
        return await self.inner.load(account_id)

    async def enforcement_history(
        self, account_id: int, limit: int = 100
    ) -> list[EnforcementRecord]:
        await self.flush()
        return await self.inner.enforcement_history(account_id, limit)

    async def close(self) -> None:
        """Commit what is waiting (for at most close_timeout_s), then close the store."""
        try:
            await asyncio.wait_for(self.flush(), self.close_timeout_s)
        except TimeoutError:
            log.critical(
                "state store: %d writes not committed within %g s at shutdown "
                "(the broker's trades are re-read at the next start)",
                self.backlog,
                self.close_timeout_s,
            )
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.inner.close()

    # ---- StateStore: writes (queued, never awaited on the disk; the single-write methods
    # are SingleWrites', each a batch of one) ------------------------------------------------
    async def apply(self, writes: Sequence[Write]) -> None:
        for write in writes:
            self._add(write)

    async def before_reset(
        self, account_id: int, trading_day: dt.date, reset_at: dt.datetime
    ) -> None:
        """The backup runs in order: after the old day's writes, before the reset's."""
        self.seal()
        inner = self.inner
        self._enqueue(lambda: inner.before_reset(account_id, trading_day, reset_at))
