"""A batch of engine writes (rmdsl.engine.persistence.Write) -> SQL statements for one transaction.

SqliteStore.apply runs what `statements` returns inside one BEGIN IMMEDIATE ... COMMIT,
so the writes of one engine step (a fill, today's counters, the position, a timer)
land together or not at all, with one synced commit instead of one per write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rmdsl.engine.persistence import (
    AddLockout,
    CancelTimer,
    LiftLockout,
    RecordDay,
    RecordEnforcement,
    RecordMetrics,
    RecordTrade,
    RecordVersion,
    RemovePosition,
    ReplacePositions,
    ResetDay,
    SaveAccount,
    StartTimer,
    UpsertPosition,
    Write,
)
from rmdsl.store import rows
from rmdsl.store.codec import day_out, json_out, ts_out

Params = Sequence[Any]


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement; `many` runs it once per parameter tuple in `params`."""

    sql: str
    params: Params = ()
    many: bool = False
    trade: bool = False  # a fill: 0 rows changed means a re-delivered duplicate


ACCOUNT_SQL = rows.ACCOUNTS.insert("account_state")
# a re-delivered fill changes nothing; only a void (same id) updates the stored row
TRADE_SQL = (
    rows.TRADES.insert("trades", "INSERT") + " ON CONFLICT (account_id, trade_id) DO UPDATE SET "
    "voided = excluded.voided, pnl = excluded.pnl "
    "WHERE trades.voided <> excluded.voided"
)
POSITION_SQL = rows.POSITIONS.insert("positions")
LOCKOUT_SQL = rows.LOCKOUTS.insert("lockouts")
TIMER_SQL = rows.TIMERS.insert("timers")
ENFORCEMENT_SQL = rows.ENFORCEMENTS.insert("enforcement_history", "INSERT")
VERSION_SQL = (
    "INSERT INTO ruleset_versions "
    "(digest, name, path, files_json, loaded_at, account_id, status, error, timezone) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
DAY_SQL = rows.DAYS.insert("day_results")
DAY_PRUNE_SQL = "DELETE FROM day_results WHERE account_id = ? AND trading_day < ?"
METRIC_SQL = "INSERT INTO metrics (name, label, ts, value, account_id) VALUES (?, ?, ?, ?, ?)"


def statements(write: Write) -> list[Statement]:
    """The statements of one write, in the order they must run."""
    match write:
        case SaveAccount(state) | ResetDay(state):
            return [Statement(ACCOUNT_SQL, rows.ACCOUNTS.params(state))]
        case RecordDay(day, keep_from):
            prune = (day.account_id, day_out(keep_from))
            return [Statement(DAY_SQL, rows.DAYS.params(day)), Statement(DAY_PRUNE_SQL, prune)]
        case RecordTrade(trade):
            return [Statement(TRADE_SQL, rows.TRADES.params(trade), trade=True)]
        case UpsertPosition(position):
            return [Statement(POSITION_SQL, rows.POSITIONS.params(position))]
        case RemovePosition(account_id, position_id):
            sql = "DELETE FROM positions WHERE account_id = ? AND position_id = ?"
            return [Statement(sql, (account_id, position_id))]
        case ReplacePositions(account_id, positions):
            return [
                Statement("DELETE FROM positions WHERE account_id = ?", (account_id,)),
                Statement(POSITION_SQL, [rows.POSITIONS.params(p) for p in positions], many=True),
            ]
        case AddLockout(lockout):
            return [Statement(LOCKOUT_SQL, rows.LOCKOUTS.params(lockout))]
        case LiftLockout(lockout_id, lifted_at):
            sql = "UPDATE lockouts SET lifted_at = ? WHERE id = ? AND lifted_at IS NULL"
            return [Statement(sql, (ts_out(lifted_at), lockout_id))]
        case StartTimer(timer):
            return [Statement(TIMER_SQL, rows.TIMERS.params(timer))]
        case CancelTimer(account_id, key):
            sql = "DELETE FROM timers WHERE account_id = ? AND key = ?"
            return [Statement(sql, (account_id, key))]
        case RecordEnforcement(record):
            return [Statement(ENFORCEMENT_SQL, rows.ENFORCEMENTS.params(record))]
        case RecordVersion(v):
            params = (v.digest, v.name, v.path, json_out(tuple(v.files)), ts_out(v.loaded_at))
            return [Statement(VERSION_SQL, (*params, v.account_id, "active", None, v.timezone))]
        case RecordMetrics(samples):
            values = [(s.name, s.label, ts_out(s.ts), s.value, s.account_id) for s in samples]
            return [Statement(METRIC_SQL, values, many=True)] if values else []
