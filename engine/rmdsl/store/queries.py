"""Read side of the state database: what `rmdsl status` and `rmdsl history` show.

Today's P&L per account, active lockouts and running timers, recent enforcement
with latencies, ruleset versions, and metric percentiles over a time range.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from rmdsl.engine.persistence import (
    AccountStateRecord,
    DayResultRecord,
    EnforcementRecord,
    LockoutRecord,
    PositionRecord,
    RulesetVersionRecord,
    TimerRecord,
    TradeRecord,
)
from rmdsl.store import rows
from rmdsl.store.codec import day_out, ts_in, ts_out
from rmdsl.store.db import Database, Params


@dataclass(frozen=True, slots=True)
class RulesetVersionEntry:
    """A row of ruleset_versions: an active version, or a rejected reload with its error."""

    version: RulesetVersionRecord
    status: str  # "active" | "rejected"
    error: str | None


@dataclass(frozen=True, slots=True)
class MetricSummary:
    name: str
    label: str
    count: int
    minimum: float
    maximum: float
    mean: float
    p50: float
    p95: float
    p99: float


@dataclass(frozen=True, slots=True)
class DaemonRecord:
    """The daemons row of an account: who enforces it, since when, and its state."""

    account_id: int
    pid: int
    host: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    status: str  # starting | reconciled | not reconciled | stopped
    status_since: dt.datetime


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an ascending, non-empty sequence."""
    rank = max(math.ceil(q / 100 * len(sorted_values)), 1)
    return sorted_values[min(rank, len(sorted_values)) - 1]


# columns a migration added after 1, with the value an older row reads as (migration 7)
_ADDED_COLUMNS: dict[str, dict[str, str]] = {
    "account_state": {"params_json": "'{}'", "eod_high": "NULL", "mll": "NULL", "net": "NULL"},
    "trades": {"by_rmdsl": "0"},
}


class StateQueries(Database):
    """Read-only queries; safe while a daemon writes (WAL readers do not block the writer)."""

    async def accounts(self) -> list[int]:
        found = await self.fetch("SELECT DISTINCT account_id FROM account_state ORDER BY 1")
        return [int(r[0]) for r in found]

    async def daemon(self, account_id: int) -> DaemonRecord | None:
        """The daemon last registered for the account (None before schema 4 or any daemon)."""
        if not await self.fetch_one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'daemons'"
        ):
            return None  # an older database read without migrating (`rmdsl status`)
        row = await self.fetch_one(
            "SELECT account_id, pid, host, started_at, heartbeat_at, status, status_since "
            "FROM daemons WHERE account_id = ?",
            (account_id,),
        )
        if row is None:
            return None
        return DaemonRecord(
            int(row[0]),
            int(row[1]),
            str(row[2]),
            ts_in(row[3]),
            ts_in(row[4]),
            str(row[5]),
            ts_in(row[6]),
        )

    async def _columns(self, table: str, columns: str) -> str:
        """The select list of `columns`: a column a later migration added reads as its default
        in a database opened read-only and not migrated yet (`rmdsl status`, `rmdsl history`)."""
        added = _ADDED_COLUMNS.get(table, {})
        have = {str(r[1]) for r in await self.fetch(f"PRAGMA table_info({table})")}
        names = [c.strip() for c in columns.split(",")]
        return ", ".join(f"{added[c]} AS {c}" if c in added and c not in have else c for c in names)

    async def _records[R](
        self, table: rows.Table[R], rest: str, params: Params, columns: str | None = None
    ) -> list[R]:
        """`SELECT <columns> <rest>` (the table's columns by default), each row as its record."""
        found = await self.fetch(f"SELECT {columns or table.sql_columns} {rest}", params)
        return [table.record(r) for r in found]

    async def account_state(
        self, account_id: int, before: dt.date | None = None
    ) -> AccountStateRecord | None:
        """The newest trading day's counters of the account (of a day before `before`)."""
        cutoff = day_out(before) if before is not None else "9999-12-31"
        columns = await self._columns("account_state", rows.ACCOUNTS.sql_columns)
        row = await self.fetch_one(
            f"SELECT {columns} FROM account_state WHERE account_id = ? "
            "AND trading_day < ? ORDER BY trading_day DESC LIMIT 1",
            (account_id, cutoff),
        )
        return None if row is None else rows.ACCOUNTS.record(row)

    async def daily_history(self, account_id: int, days: int = 30) -> list[AccountStateRecord]:
        """One row per trading day, newest first: the daily P&L history."""
        columns = await self._columns("account_state", rows.ACCOUNTS.sql_columns)
        return await self._records(
            rows.ACCOUNTS,
            "FROM account_state WHERE account_id = ? ORDER BY trading_day DESC LIMIT ?",
            (account_id, days),
            columns,
        )

    async def trades_of_day(self, account_id: int, day: dt.date) -> list[TradeRecord]:
        columns = await self._columns("trades", rows.TRADES.sql_columns)
        return await self._records(
            rows.TRADES,
            "FROM trades WHERE account_id = ? AND trading_day = ? ORDER BY ts, trade_id",
            (account_id, day_out(day)),
            columns,
        )

    async def day_results(self, account_id: int, before: dt.date) -> list[DayResultRecord]:
        """The kept closed days before `before`, oldest first (none before schema 8)."""
        if not await self.fetch_one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'day_results'"
        ):
            return []  # an older database read without migrating (`rmdsl status`)
        return await self._records(
            rows.DAYS,
            "FROM day_results WHERE account_id = ? AND trading_day < ? ORDER BY trading_day",
            (account_id, day_out(before)),
        )

    async def trades_between(
        self, account_id: int, first: dt.date, before: dt.date
    ) -> list[TradeRecord]:
        """The fills of trading days first <= day < before, in time order."""
        columns = await self._columns("trades", rows.TRADES.sql_columns)
        return await self._records(
            rows.TRADES,
            "FROM trades WHERE account_id = ? AND trading_day >= ? AND trading_day < ? "
            "ORDER BY ts, trade_id",
            (account_id, day_out(first), day_out(before)),
            columns,
        )

    async def positions(self, account_id: int) -> list[PositionRecord]:
        return await self._records(
            rows.POSITIONS,
            "FROM positions WHERE account_id = ? ORDER BY position_id",
            (account_id,),
        )

    async def active_lockouts(self, account_id: int | None = None) -> list[LockoutRecord]:
        """Not lifted yet. An expired but unlifted lockout is still listed: the engine lifts it."""
        where, params = _account_filter(account_id)
        return await self._records(
            rows.LOCKOUTS,
            f"FROM lockouts WHERE lifted_at IS NULL{where} ORDER BY created_at, id",
            params,
        )

    async def timers(self, account_id: int | None = None) -> list[TimerRecord]:
        where, params = _account_filter(account_id)
        return await self._records(
            rows.TIMERS, f"FROM timers WHERE 1 = 1{where} ORDER BY deadline, key", params
        )

    async def enforcement_history(
        self, account_id: int, limit: int = 100
    ) -> list[EnforcementRecord]:
        return await self.recent_enforcements(account_id, limit=limit)

    async def recent_enforcements(
        self,
        account_id: int | None = None,
        *,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[EnforcementRecord]:
        """Newest first, with latencies and outcomes."""
        where, params = _account_filter(account_id)
        if since is not None:
            where += " AND timestamp >= ?"
            params = (*params, ts_out(since))
        found = await self.fetch(  # `*`: a read-only reader may face an older schema
            f"SELECT * FROM enforcement_history WHERE 1 = 1{where} "
            "ORDER BY timestamp DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return [rows.ENFORCEMENTS.record(r) for r in found]

    async def last_ruleset_version(
        self, account_id: int | None = None
    ) -> RulesetVersionRecord | None:
        """The last version run (by `account_id`'s engine: accounts of one daemon may each
        run their own ruleset)."""
        where, params = (
            ("", ()) if account_id is None else (" AND account_id IN (?, 0)", (account_id,))
        )
        row = await self.fetch_one(  # 0: a version recorded without its account (older rows)
            f"SELECT * FROM ruleset_versions WHERE status = 'active'{where} "
            "ORDER BY id DESC LIMIT 1",
            params,
        )
        return None if row is None else rows.VERSIONS.record(row)

    async def ruleset_versions(self, limit: int = 20) -> list[RulesetVersionEntry]:
        found = await self.fetch(
            "SELECT * FROM ruleset_versions ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [
            RulesetVersionEntry(rows.VERSIONS.record(r), r["status"], r["error"]) for r in found
        ]

    async def metric_names(self, since: dt.datetime | None = None) -> list[tuple[str, str]]:
        """(name, label) pairs recorded since `since`."""
        found = await self.fetch(
            "SELECT DISTINCT name, label FROM metrics WHERE ts >= ? ORDER BY name, label",
            (ts_out(since) if since else "",),
        )
        return [(r[0], r[1]) for r in found]

    async def metric_summary(
        self,
        name: str,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        label: str | None = None,
    ) -> MetricSummary | None:
        """p50/p95/p99 over the samples of `name` in [since, until); None without samples."""
        sql = "SELECT value FROM metrics WHERE name = ? AND ts >= ? AND ts < ?"
        params: tuple[object, ...] = (
            name,
            ts_out(since) if since else "",
            ts_out(until) if until else "~",  # "~" sorts after every timestamp
        )
        if label is not None:
            sql += " AND label = ?"
            params = (*params, label)
        values = sorted(float(r[0]) for r in await self.fetch(sql + " ORDER BY value", params))
        if not values:
            return None
        return MetricSummary(
            name=name,
            label=label or "",
            count=len(values),
            minimum=values[0],
            maximum=values[-1],
            mean=math.fsum(values) / len(values),
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            p99=percentile(values, 99),
        )


def _account_filter(account_id: int | None) -> tuple[str, tuple[object, ...]]:
    if account_id is None:
        return "", ()
    return " AND account_id = ?", (account_id,)
