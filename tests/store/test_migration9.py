"""Migration 9: a lockout row may be of kind reduce_only (`reduce_only(until: ...)`), and its
end may be a wall-clock time (`until_kind` clock). Migration 2's CHECK refused the kind, so
the row was lost and a restart forgot the reduce-only (issue 12)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from store_records import ACCOUNT

from rmdsl.engine.persistence import LockoutKind, LockoutRecord, UntilKindRecord
from rmdsl.store import SqliteStore, schema

T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


def _create_at_version_7(path: Path) -> None:
    """A database written before migration 9, with an active pause."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(path)
    try:
        raw.execute(schema.CREATE_MIGRATIONS_TABLE)
        for version, script in schema.MIGRATIONS:
            if version > 7:
                break
            for statement in schema.statements(script):
                raw.execute(statement)
            raw.execute(
                "INSERT INTO schema_migrations VALUES (?, '2026-03-01T00:00:00Z')", (version,)
            )
        raw.execute(
            "INSERT INTO lockouts (id, account_id, symbol, rule_id, until_ts, until_kind, "
            "created_at, kind) VALUES ('p1', ?, NULL, 'busy', '2026-03-02T15:30:00Z', "
            "'duration', '2026-03-02T15:00:00Z', 'pause')",
            (ACCOUNT,),
        )
        raw.commit()
        try:
            raw.execute(
                "INSERT INTO lockouts (id, account_id, rule_id, until_kind, created_at, "
                "kind) VALUES ('r0', 1, 'x', 'clock', 'now', 'reduce_only')"
            )
        except sqlite3.IntegrityError:
            pass  # what the old schema did to a reduce-only
        else:
            raise AssertionError("version 7 accepted a reduce_only row")
    finally:
        raw.close()


async def test_a_version_7_database_keeps_its_pause_and_now_keeps_a_reduce_only(
    db_path: Path,
) -> None:
    _create_at_version_7(db_path)
    reduce_only = LockoutRecord(
        "r1",
        ACCOUNT,
        None,
        "blackout_window",
        T0 + dt.timedelta(hours=4),
        UntilKindRecord.CLOCK,
        T0,
        kind=LockoutKind.REDUCE_ONLY,
    )
    async with SqliteStore(db_path) as s:
        await s.add_lockout(reduce_only)
        state = await s.load(ACCOUNT)
    kinds = {(lk.id, lk.kind, lk.until_kind) for lk in state.lockouts}
    assert kinds == {
        ("p1", LockoutKind.PAUSE, UntilKindRecord.DURATION),
        ("r1", LockoutKind.REDUCE_ONLY, UntilKindRecord.CLOCK),
    }
    [row] = [lk for lk in state.lockouts if lk.id == "r1"]
    assert row == reduce_only
