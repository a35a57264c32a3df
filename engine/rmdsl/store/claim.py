"""A daemon's hold on its account: the account lock, the `daemons` row, heartbeats, its status.

The lock (rmdsl.store.lock) is what keeps a second daemon out; the row only
tells people (`rmdsl status`) who enforces the account and in what state.
Row writes that fail are alerted, never fatal (docs/decisions.md Q13).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
from collections.abc import Awaitable
from pathlib import Path

from rmdsl.engine.journal import persist_or_alert
from rmdsl.notify import Notifier
from rmdsl.store.lock import AccountLock, Holder, is_rmdsl

log = logging.getLogger("rmdsl.daemon")

HEARTBEAT_S = 30.0


class AccountClaim:
    """Store-agnostic: the row methods are used when the store has them (SqliteStore)."""

    def __init__(
        self,
        store: object,
        notifier: Notifier,
        lock_dir: Path | None,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.store, self.notifier = store, notifier
        self.lock_dir = lock_dir  # None: no lock at all
        self.heartbeat_s = heartbeat_s
        self.lock: AccountLock | None = None

    @property
    def held(self) -> bool:
        return self.lock is not None

    def report_locked_store(self) -> None:
        """A state database another process write-locks: say so now, not after N timeouts."""
        holder = getattr(self.store, "locked_by", None)
        if not holder:
            return
        path = getattr(self.store, "path", "?")
        body = (
            f"{path} is locked by {holder}: enforcement goes on from memory; state writes "
            "fail (and are alerted) until the lock is released"
        )
        log.critical("state database locked: %s", body)
        self.notifier.alert("critical", "state database locked", body, {"path": str(path)})

    async def acquire(self, account_id: int) -> None:
        """Hold the account's lock (AlreadyRunningError: another daemon has it), register."""
        if self.lock_dir is None:
            return
        lock = AccountLock(account_id, self.lock_dir, str(getattr(self.store, "path", "")))
        me = await lock.acquire()
        try:
            await self._refuse_live_row(lock)
        except BaseException:
            lock.release()
            raise
        self.lock = lock
        log.info("account %s is locked for this daemon (%s)", account_id, lock.path)
        claim = getattr(self.store, "claim_daemon", None)
        if claim is not None:
            await self._write(claim(account_id, me.pid, me.host, me.since))

    async def _refuse_live_row(self, lock: AccountLock) -> None:
        """A live daemon of this host in the database's row uses another lock directory.

        The lock only sees daemons sharing its directory ($RMDSL_LOCK_DIR, or another
        user's home): the state database's own row catches a second daemon on it anyway.
        """
        read = getattr(self.store, "daemon", None)
        row = await read(lock.account_id) if read is not None else None
        if row is None or row.status == "stopped" or row.pid == os.getpid():
            return
        if row.host != socket.gethostname() or not is_rmdsl(row.pid):
            return  # another host's daemon is seen by its heartbeat only (`rmdsl status`)
        holder = Holder(row.pid, row.host, row.started_at, str(getattr(self.store, "path", "")))
        raise lock.refusal(holder, "it keeps its account lock in another lock directory")

    async def set_status(self, status: str, since: dt.datetime | None = None) -> None:
        """The daemon's state in its row: starting, reconciled, not reconciled, stopped."""
        write = getattr(self.store, "set_daemon_status", None)
        if self.lock is not None and write is not None:
            await self._write(write(self.lock.account_id, status, since or _now()))

    async def heartbeat(self) -> None:
        """Forever (a task): lets `rmdsl status` on another host see the daemon is alive."""
        beat = getattr(self.store, "daemon_heartbeat", None)
        while beat is not None and self.lock is not None:
            await asyncio.sleep(self.heartbeat_s)
            await self._write(beat(self.lock.account_id, _now()))

    def release(self) -> None:
        lock, self.lock = self.lock, None
        if lock is not None:
            lock.release()

    async def _write(self, write: Awaitable[None]) -> None:
        await persist_or_alert(write, self.notifier, log)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
