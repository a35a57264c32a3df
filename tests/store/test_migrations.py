"""Schema migrations: a database created at an older version opens and is brought up to date."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from store_records import ACCOUNT, lockout

from rmdsl.engine.persistence import LockoutKind
from rmdsl.store import SqliteStore, schema
from rmdsl.store.rows import lockout_params


def _create_at_version_1(path: Path) -> None:
    """What an rmdsl before the `kind` column wrote: pauses were ids prefixed "pause-"."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(path)
    try:
        raw.execute(schema.CREATE_MIGRATIONS_TABLE)
        for statement in schema.statements(dict(schema.MIGRATIONS)[1]):
            raw.execute(statement)
        raw.execute("INSERT INTO schema_migrations VALUES (1, '2026-11-24T00:00:00Z')")
        old_columns = "id, account_id, symbol, rule_id, until_ts, until_kind, created_at, "
        old_columns += "lifted_at, reason"
        for lid, symbol in (("pause-abc", None), ("lk-a", None), ("lk-b", "MNQ")):
            params = lockout_params(lockout(lid, symbol=symbol))[:9]
            raw.execute(f"INSERT INTO lockouts ({old_columns}) VALUES (?,?,?,?,?,?,?,?,?)", params)
        raw.commit()
    finally:
        raw.close()


async def test_a_version_1_database_migrates_pause_ids_to_the_kind_column(db_path: Path) -> None:
    _create_at_version_1(db_path)
    async with SqliteStore(db_path) as s:
        versions = [r[0] for r in await s.fetch("SELECT version FROM schema_migrations")]
        kinds = {lk.id: lk.kind for lk in await s.active_lockouts(ACCOUNT)}
    assert versions == [n for n, _ in schema.MIGRATIONS] and schema.LATEST >= 2
    assert kinds == {
        "pause-abc": LockoutKind.PAUSE,
        "lk-a": LockoutKind.LOCKOUT,
        "lk-b": LockoutKind.SYMBOL_BLOCK,
    }


async def test_the_kind_round_trips_and_does_not_depend_on_the_id(store: SqliteStore) -> None:
    pause = dataclasses.replace(lockout("plain-id"), kind=LockoutKind.PAUSE)
    await store.add_lockout(pause)
    await store.add_lockout(lockout("pause-but-a-lockout"))
    state = await store.load(ACCOUNT)
    assert {lk.id: lk.kind for lk in state.lockouts} == {
        "plain-id": LockoutKind.PAUSE,
        "pause-but-a-lockout": LockoutKind.LOCKOUT,
    }
