"""SqliteStore: the engine's StateStore (rmdsl.engine.persistence) on one SQLite file in WAL mode.

`apply(writes)` commits a batch in one transaction when the coroutine returns
(synchronous=FULL), so a batch survives a crash or a power cut once it returned; each
single write method is a batch of one. Reads for
`rmdsl status` / `rmdsl history` live in rmdsl.store.queries (StateQueries).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rmdsl.engine.persistence import (
    AccountStateRecord,
    DayResultRecord,
    PersistedState,
    RecordMetrics,
    StateStore,
    TradeRecord,
    Write,
)
from rmdsl.engine.single_writes import SingleWrites
from rmdsl.lang.horizon import WINDOW_DAYS
from rmdsl.store.backup import DEFAULT_KEEP, write_backup
from rmdsl.store.batch import VERSION_SQL, statements
from rmdsl.store.codec import day_out, json_out, ts_out
from rmdsl.store.db import BUSY_TIMEOUT_MS, Params
from rmdsl.store.queries import StateQueries

log = logging.getLogger(__name__)

DEFAULT_METRICS_RETENTION = dt.timedelta(days=30)
_PRUNE_EVERY = dt.timedelta(hours=1)


class SqliteStore(StateQueries, SingleWrites):
    """`async with SqliteStore(path) as store:` — implements StateStore plus reads and backups."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        backup_dir: Path | str | None = None,
        keep_backups: int = DEFAULT_KEEP,
        metrics_retention: dt.timedelta = DEFAULT_METRICS_RETENTION,
        readonly: bool = False,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        super().__init__(path, readonly=readonly, busy_timeout_ms=busy_timeout_ms)
        self.backup_dir = (
            Path(backup_dir).expanduser() if backup_dir else self.path.parent / "backups"
        )
        self.keep_backups = keep_backups
        self.metrics_retention = metrics_retention
        self.duplicate_trades = 0  # fills delivered twice and ignored (docs/engine.md)
        self._last_prune: dt.datetime | None = None

    # --- restore --------------------------------------------------------------------------

    async def load(self, account_id: int) -> PersistedState:
        account = await self.account_state(account_id)
        trades: tuple[TradeRecord, ...] = ()
        previous: AccountStateRecord | None = None
        previous_trades: tuple[TradeRecord, ...] = ()
        if account is not None:
            trades = tuple(await self.trades_of_day(account_id, account.trading_day))
            previous = await self.account_state(account_id, before=account.trading_day)
        if previous is not None:
            previous_trades = tuple(await self.trades_of_day(account_id, previous.trading_day))
        days: tuple[DayResultRecord, ...] = ()
        recent: tuple[TradeRecord, ...] = ()
        if account is not None:
            today = account.trading_day
            days = tuple(await self.day_results(account_id, today))
            first = today - dt.timedelta(days=WINDOW_DAYS + 1)
            recent = tuple(await self.trades_between(account_id, first, today))
        return PersistedState(
            account=account,
            previous=previous,
            previous_trades=previous_trades,
            positions=tuple(await self.positions(account_id)),
            trades=trades,
            lockouts=tuple(await self.active_lockouts(account_id)),
            timers=tuple(await self.timers(account_id)),
            ruleset=await self.last_ruleset_version(account_id),
            days=days,
            recent_trades=recent,
        )

    # --- the batch API: every engine write goes through apply ----------------------------

    async def apply(self, writes: Sequence[Write]) -> None:
        """All `writes` in one transaction (one synced commit), in order."""
        todo = [st for w in writes for st in statements(w)]
        if not todo:
            return
        duplicates: list[Params] = []
        async with self.transaction() as db:
            for st in todo:
                if st.many:
                    await db.executemany(st.sql, st.params)
                    continue
                cursor = await db.execute(st.sql, st.params)
                if st.trade and cursor.rowcount == 0:
                    duplicates.append(st.params)
                await cursor.close()
        for account_id, trade_id, *_ in duplicates:
            self.duplicate_trades += 1
            log.info("duplicate fill ignored: account %s trade %s", account_id, trade_id)
        metrics = [w for w in writes if isinstance(w, RecordMetrics) and w.samples]
        if metrics:
            await self._prune_metrics(max(s.ts for w in metrics for s in w.samples))

    async def record_ruleset_rejection(
        self, path: str, error: str, at: dt.datetime, digest: str = "", name: str = ""
    ) -> None:
        """A hot reload (or start) refused a ruleset: kept for `rmdsl history`."""
        params = (digest, name, path, json_out(()), ts_out(at), 0, "rejected", error, "")
        await self.write(VERSION_SQL, params)

    async def _prune_metrics(self, now: dt.datetime) -> None:
        if self._last_prune is not None and now - self._last_prune < _PRUNE_EVERY:
            return
        self._last_prune = now
        await self.write(
            "DELETE FROM metrics WHERE ts < ?", (ts_out(now - self.metrics_retention),)
        )

    # --- the daemon enforcing each account (rmdsl.store.lock holds the lock) -------------

    async def claim_daemon(self, account_id: int, pid: int, host: str, at: dt.datetime) -> None:
        """This process now enforces the account (it holds the account's lock)."""
        stamp = ts_out(at)
        await self.write(
            "INSERT OR REPLACE INTO daemons (account_id, pid, host, started_at, heartbeat_at, "
            "status, status_since) VALUES (?, ?, ?, ?, ?, 'starting', ?)",
            (account_id, pid, host, stamp, stamp, stamp),
        )

    async def set_daemon_status(self, account_id: int, status: str, since: dt.datetime) -> None:
        """What `rmdsl status` shows: e.g. reconciled / not reconciled / stopped, since when.

        Only this process's own row changes: a daemon refused for the account never
        overwrites the row of the one that holds it.
        """
        await self.write(
            "UPDATE daemons SET status = ?, status_since = ? WHERE account_id = ? AND pid = ?",
            (status, ts_out(since), account_id, os.getpid()),
        )

    async def daemon_heartbeat(self, account_id: int, at: dt.datetime) -> None:
        """Still alive: lets `rmdsl status` on another host tell a dead daemon from a live one."""
        await self.write(
            "UPDATE daemons SET heartbeat_at = ? WHERE account_id = ? AND pid = ?",
            (ts_out(at), account_id, os.getpid()),
        )

    # --- reset and backup -----------------------------------------------------------------

    async def before_reset(
        self, account_id: int, trading_day: dt.date, reset_at: dt.datetime
    ) -> None:
        path = await self.backup(trading_day=trading_day)
        log.info(
            "backup before the %s reset of account %s (trading day %s): %s",
            ts_out(reset_at),
            account_id,
            day_out(trading_day),
            path,
        )

    async def backup(
        self, dest_dir: Path | str | None = None, *, trading_day: dt.date | None = None
    ) -> Path:
        """Snapshot the database now (named for `trading_day`, default today UTC); keep N newest."""
        self._conn()  # refuse on a closed store before touching the disk
        day = trading_day or dt.datetime.now(dt.UTC).date()
        target = Path(dest_dir).expanduser() if dest_dir else self.backup_dir
        return await write_backup(self.path, target, day, self.keep_backups)


if TYPE_CHECKING:

    def _implements_protocol(store: SqliteStore) -> StateStore:
        return store  # mypy proves SqliteStore satisfies the engine's StateStore
