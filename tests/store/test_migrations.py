"""Schema migrations: a database created at an older version opens and is brought up to date."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from store_records import ACCOUNT, T0, enforcement, lockout

from rmdsl.engine.persistence import LockoutKind, RulesetVersionRecord
from rmdsl.store import SqliteStore, rows, schema


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
            params = rows.LOCKOUTS.params(lockout(lid, symbol=symbol))[:9]
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


def _create_at_version_2(path: Path) -> None:
    """What an rmdsl before shown_json / ruleset timezone wrote: one enforcement, one version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(path)
    try:
        raw.execute(schema.CREATE_MIGRATIONS_TABLE)
        for version in (1, 2):
            for statement in schema.statements(dict(schema.MIGRATIONS)[version]):
                raw.execute(statement)
            raw.execute(
                "INSERT INTO schema_migrations VALUES (?, '2026-11-24T00:00:00Z')", (version,)
            )
        columns = "timestamp, account_id, rule_name, action, reason, values_json, target, "
        columns += "event_received_ts, action_sent_ts, latency_ms, outcome, error, severity"
        params = rows.ENFORCEMENTS.params(enforcement(1))[:13]
        raw.execute(
            f"INSERT INTO enforcement_history ({columns}) VALUES ({', '.join('?' * 13)})", params
        )
        raw.execute(
            "INSERT INTO ruleset_versions (digest, name, path, loaded_at, status) "
            "VALUES ('d', 'old', '/r.yaml', '2026-11-24T00:00:00.000000Z', 'active')"
        )
        raw.commit()
    finally:
        raw.close()


async def test_a_version_2_database_is_readable_before_and_after_migrating(db_path: Path) -> None:
    _create_at_version_2(db_path)
    async with SqliteStore(db_path, readonly=True) as s:  # `rmdsl history` does not migrate
        [old] = await s.recent_enforcements(ACCOUNT)
        version = await s.last_ruleset_version()
    assert old.values == {"position.unrealized_pnl": "-400.00"} and old.shown == {}
    assert version is not None and version.timezone == ""
    async with SqliteStore(db_path) as s:
        await s.record_enforcement(enforcement(2))
        await s.record_ruleset_version(
            RulesetVersionRecord("e", "new", "/r.yaml", T0, timezone="America/Chicago")
        )
        new, old = await s.recent_enforcements(ACCOUNT)
        version = await s.last_ruleset_version()
    assert new.shown == {"position.unrealized_pnl": "-$400.00"} and old.shown == {}
    assert version is not None and version.timezone == "America/Chicago"
