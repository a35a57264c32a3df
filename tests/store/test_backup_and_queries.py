"""Daily backups with retention, and the read APIs behind `rmdsl status` / `rmdsl history`."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
from pathlib import Path

import pytest
from store_records import ACCOUNT, DAY, T0, account, enforcement, lockout, timer, trade

from rmdsl.engine.persistence import MetricSample, RulesetVersionRecord
from rmdsl.errors import StoreError
from rmdsl.store import SqliteStore, list_backups
from rmdsl.store.queries import percentile


def _count(path: Path, table: str) -> int:
    raw = sqlite3.connect(path)
    try:
        return int(raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        raw.close()


async def test_before_reset_writes_a_snapshot_named_for_the_day(
    store: SqliteStore, db_path: Path
) -> None:
    await store.add_lockout(lockout())
    await store.record_trade(trade(1))
    await store.before_reset(ACCOUNT, DAY, T0)
    snap = db_path.parent / "backups" / "state-2026-11-24.db"
    assert list_backups(db_path.parent / "backups") == [snap]
    assert _count(snap, "lockouts") == 1 and _count(snap, "trades") == 1
    assert stat.S_IMODE(snap.stat().st_mode) == 0o600
    assert not snap.with_name(snap.name + "-wal").exists()  # self-contained file


async def test_backup_keeps_only_the_newest(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db", keep_backups=3) as s:
        for i in range(5):
            await s.backup(tmp_path / "bk", trading_day=DAY + dt.timedelta(days=i))
    names = [p.name for p in list_backups(tmp_path / "bk")]
    assert names == ["state-2026-11-26.db", "state-2026-11-27.db", "state-2026-11-28.db"]


async def test_backup_is_a_restorable_database(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db") as s:
        await s.save_account_state(account())
        snap = await s.backup(tmp_path / "bk", trading_day=DAY)
    async with SqliteStore(snap) as restored:
        assert await restored.account_state(ACCOUNT) == account()


async def test_backup_to_an_unwritable_place_is_a_store_error(
    store: SqliteStore, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot write the backup"):
        await store.backup(blocker / "bk")


async def test_status_reads(store: SqliteStore) -> None:
    await store.save_account_state(account())
    await store.add_lockout(lockout("a"))
    await store.add_lockout(lockout("b", symbol="MNQ"))
    await store.lift_lockout("a", T0)
    await store.start_timer(timer())
    for i in range(3):
        await store.record_enforcement(enforcement(i, latency=10.0 * (i + 1)))
    assert await store.accounts() == [ACCOUNT]
    state = await store.account_state(ACCOUNT)
    assert state is not None and str(state.realized_pnl) == "-150.75"
    assert [lk.symbol for lk in await store.active_lockouts()] == ["MNQ"]
    assert [t.rule_id for t in await store.timers()] == ["no_stop_loss_grace"]
    recent = await store.recent_enforcements(since=T0 + dt.timedelta(seconds=1))
    assert [r.latency_ms for r in recent] == [30.0, 20.0]
    assert await store.recent_enforcements(account_id=999) == []


async def test_ruleset_versions_record_rejections(store: SqliteStore) -> None:
    v1 = RulesetVersionRecord("d1", "rs", "/r.yaml", T0, ("/r.yaml", "/base.yaml"))
    await store.record_ruleset_version(v1)
    await store.record_ruleset_rejection("/r.yaml", "r.yaml:3:5: error[RM040]: nope", T0)
    entries = await store.ruleset_versions()
    assert [(e.status, e.error) for e in entries] == [
        ("rejected", "r.yaml:3:5: error[RM040]: nope"),
        ("active", None),
    ]
    assert entries[1].version == v1
    assert await store.last_ruleset_version() == v1


async def test_each_account_restores_its_own_ruleset_version(store: SqliteStore) -> None:
    """Accounts of one daemon share the database and may run different rulesets."""
    mine = RulesetVersionRecord("d1", "express", "/e.yaml", T0, account_id=101)
    other = RulesetVersionRecord("d2", "combine", "/c.yaml", T0, account_id=102)
    await store.record_ruleset_version(mine)
    await store.record_ruleset_version(other)
    assert (await store.load(101)).ruleset == mine
    assert (await store.load(102)).ruleset == other
    assert await store.last_ruleset_version() == other  # the daemon's latest, any account


async def test_metric_percentiles_over_a_range(store: SqliteStore) -> None:
    samples = [
        MetricSample("enforcement_latency_ms", float(v), T0 + dt.timedelta(seconds=v))
        for v in range(1, 201)
    ]
    samples.append(MetricSample("rule_eval_us", 7.0, T0, label="daily_loss"))
    await store.record_metrics(samples)
    summary = await store.metric_summary("enforcement_latency_ms")
    assert summary is not None
    assert (summary.count, summary.p50, summary.p95, summary.p99) == (200, 100.0, 190.0, 198.0)
    assert (summary.minimum, summary.maximum, summary.mean) == (1.0, 200.0, 100.5)
    window = await store.metric_summary(
        "enforcement_latency_ms",
        since=T0 + dt.timedelta(seconds=101),
        until=T0 + dt.timedelta(seconds=111),
    )
    assert window is not None and (window.count, window.minimum, window.maximum) == (10, 101, 110)
    assert await store.metric_summary("nothing") is None
    per_rule = await store.metric_summary("rule_eval_us", label="daily_loss")
    assert per_rule is not None and per_rule.p99 == 7.0
    assert ("rule_eval_us", "daily_loss") in await store.metric_names()


def test_percentile_nearest_rank() -> None:
    assert percentile([1.0], 99) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
