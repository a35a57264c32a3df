"""SqliteStore: the engine's StateStore (rmdsl.engine.persistence) on one SQLite file in WAL mode.

Every write is one committed transaction when the coroutine returns (synchronous=FULL),
so whatever the engine acted on survives a crash or a power cut. Reads for
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
    EnforcementRecord,
    LockoutRecord,
    MetricSample,
    PersistedState,
    PositionRecord,
    RulesetVersionRecord,
    StateStore,
    TimerRecord,
    TradeRecord,
)
from rmdsl.store import rows
from rmdsl.store.backup import DEFAULT_KEEP, write_backup
from rmdsl.store.codec import day_out, json_out, ts_out
from rmdsl.store.db import BUSY_TIMEOUT_MS
from rmdsl.store.queries import StateQueries

log = logging.getLogger(__name__)

DEFAULT_METRICS_RETENTION = dt.timedelta(days=30)
_PRUNE_EVERY = dt.timedelta(hours=1)


class SqliteStore(StateQueries):
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
        self.duplicate_trades = 0  # fills delivered twice and ignored (SPEC 8)
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
        return PersistedState(
            account=account,
            previous=previous,
            previous_trades=previous_trades,
            positions=tuple(await self.positions(account_id)),
            trades=trades,
            lockouts=tuple(await self.active_lockouts(account_id)),
            timers=tuple(await self.timers(account_id)),
            ruleset=await self.last_ruleset_version(),
        )

    # --- today's state --------------------------------------------------------------------

    async def save_account_state(self, state: AccountStateRecord) -> None:
        await self.write(
            f"INSERT OR REPLACE INTO account_state ({rows.ACCOUNT_COLUMNS}) VALUES ({_marks(14)})",
            rows.account_params(state),
        )

    async def reset_day(self, state: AccountStateRecord) -> None:
        await self.save_account_state(state)

    async def record_trade(self, trade: TradeRecord) -> None:
        # a re-delivered fill changes nothing; only a void (same id) updates the stored row
        changed = await self.write(
            f"INSERT INTO trades ({rows.TRADE_COLUMNS}) VALUES ({_marks(14)}) "
            "ON CONFLICT (account_id, trade_id) DO UPDATE SET "
            "voided = excluded.voided, pnl = excluded.pnl "
            "WHERE trades.voided <> excluded.voided",
            rows.trade_params(trade),
        )
        if changed == 0:
            self.duplicate_trades += 1
            log.info(
                "duplicate fill ignored: account %s trade %s", trade.account_id, trade.trade_id
            )

    # --- positions ------------------------------------------------------------------------

    async def upsert_position(self, position: PositionRecord) -> None:
        await self.write(
            f"INSERT OR REPLACE INTO positions ({rows.POSITION_COLUMNS}) VALUES ({_marks(9)})",
            rows.position_params(position),
        )

    async def remove_position(self, account_id: int, position_id: int) -> None:
        await self.write(
            "DELETE FROM positions WHERE account_id = ? AND position_id = ?",
            (account_id, position_id),
        )

    async def replace_positions(self, account_id: int, positions: Sequence[PositionRecord]) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM positions WHERE account_id = ?", (account_id,))
            await db.executemany(
                f"INSERT OR REPLACE INTO positions ({rows.POSITION_COLUMNS}) VALUES ({_marks(9)})",
                [rows.position_params(p) for p in positions],
            )

    # --- lockouts and timers --------------------------------------------------------------

    async def add_lockout(self, lockout: LockoutRecord) -> None:
        await self.write(
            f"INSERT OR REPLACE INTO lockouts ({rows.LOCKOUT_COLUMNS}) VALUES ({_marks(10)})",
            rows.lockout_params(lockout),
        )

    async def lift_lockout(self, lockout_id: str, lifted_at: dt.datetime) -> None:
        await self.write(
            "UPDATE lockouts SET lifted_at = ? WHERE id = ? AND lifted_at IS NULL",
            (ts_out(lifted_at), lockout_id),
        )

    async def start_timer(self, timer: TimerRecord) -> None:
        await self.write(
            f"INSERT OR REPLACE INTO timers ({rows.TIMER_COLUMNS}) VALUES ({_marks(6)})",
            rows.timer_params(timer),
        )

    async def cancel_timer(self, account_id: int, key: str) -> None:
        await self.write("DELETE FROM timers WHERE account_id = ? AND key = ?", (account_id, key))

    # --- history --------------------------------------------------------------------------

    async def record_enforcement(self, record: EnforcementRecord) -> None:
        await self.write(
            f"INSERT INTO enforcement_history ({rows.ENFORCEMENT_COLUMNS}) VALUES ({_marks(14)})",
            rows.enforcement_params(record),
        )

    async def record_ruleset_version(self, version: RulesetVersionRecord) -> None:
        await self._insert_version(
            version.digest,
            version.name,
            version.path,
            version.files,
            version.loaded_at,
            version.account_id,
            "active",
            None,
            version.timezone,
        )

    async def record_ruleset_rejection(
        self, path: str, error: str, at: dt.datetime, digest: str = "", name: str = ""
    ) -> None:
        """A hot reload (or start) refused a ruleset: kept for `rmdsl history`."""
        await self._insert_version(digest, name, path, (), at, 0, "rejected", error)

    async def _insert_version(
        self,
        digest: str,
        name: str,
        path: str,
        files: tuple[str, ...],
        at: dt.datetime,
        account_id: int,
        status: str,
        error: str | None,
        timezone: str = "",
    ) -> None:
        await self.write(
            "INSERT INTO ruleset_versions "
            "(digest, name, path, files_json, loaded_at, account_id, status, error, timezone) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                digest,
                name,
                path,
                json_out(tuple(files)),
                ts_out(at),
                account_id,
                status,
                error,
                timezone,
            ),
        )

    async def record_metrics(self, samples: Sequence[MetricSample]) -> None:
        if samples:
            await self.write_many(
                "INSERT INTO metrics (name, label, ts, value, account_id) VALUES (?, ?, ?, ?, ?)",
                [(s.name, s.label, ts_out(s.ts), s.value, s.account_id) for s in samples],
            )
            await self._prune_metrics(max(s.ts for s in samples))

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


def _marks(n: int) -> str:
    return ", ".join("?" * n)


if TYPE_CHECKING:

    def _implements_protocol(store: SqliteStore) -> StateStore:
        return store  # mypy proves SqliteStore satisfies the engine's StateStore
