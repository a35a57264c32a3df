"""SqliteStore implements the engine's StateStore: round trips, durability, duplicates, parity."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from store_records import (
    ACCOUNT,
    DAY,
    T0,
    account,
    enforcement,
    lockout,
    position,
    timer,
    trade,
)

from rmdsl.engine.persistence import (
    MetricSample,
    Outcome,
    RulesetVersionRecord,
    StateStore,
)
from rmdsl.errors import StoreError
from rmdsl.store import SqliteStore
from rmdsl.tooling.memory_store import MemoryStore


async def test_empty_database_loads_empty_state(store: SqliteStore) -> None:
    state = await store.load(ACCOUNT)
    assert state.account is None
    assert state.positions == state.trades == state.lockouts == state.timers == ()
    assert state.ruleset is None


async def test_everything_survives_close_and_reopen(db_path: Path) -> None:
    version = RulesetVersionRecord("abc123", "topstep-50k", "/r/a.yaml", T0, ("/r/a.yaml",), 0)
    async with SqliteStore(db_path) as s:
        await s.save_account_state(account())
        await s.record_trade(trade(1))
        await s.record_trade(trade(2, pnl=None))
        await s.upsert_position(position())
        await s.add_lockout(lockout())
        await s.start_timer(timer())
        await s.record_ruleset_version(version)
    async with SqliteStore(db_path) as s:
        state = await s.load(ACCOUNT)
    assert state.account == account()
    assert state.trades == (trade(1), trade(2, pnl=None))
    assert state.positions == (position(),)
    assert state.lockouts == (lockout(),)
    assert state.timers == (timer(),)
    assert state.ruleset == version


async def test_money_is_exact_decimal_text(store: SqliteStore, db_path: Path) -> None:
    await store.save_account_state(account(realized="-0.10"))
    await store.record_trade(trade(1, pnl="-399.99"))
    raw = sqlite3.connect(db_path)
    try:
        pnl, kind = raw.execute(
            "SELECT realized_pnl, typeof(realized_pnl) FROM account_state"
        ).fetchone()
    finally:
        raw.close()
    assert (pnl, kind) == ("-0.10", "text")
    state = await store.load(ACCOUNT)
    assert state.account is not None and state.account.realized_pnl == Decimal("-0.10")
    assert state.trades[0].pnl == Decimal("-399.99")


async def test_writes_are_visible_to_another_connection_at_once(
    store: SqliteStore, db_path: Path
) -> None:
    # committed on return: a second process (here a plain sqlite3 connection) sees the lockout
    await store.add_lockout(lockout())
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("SELECT id FROM lockouts").fetchall() == [("lk-1",)]
    finally:
        raw.close()


async def test_duplicate_fill_is_ignored_and_counted(store: SqliteStore) -> None:
    await store.record_trade(trade(1, pnl="-100"))
    await store.record_trade(trade(1, pnl="-100"))
    await store.record_trade(trade(1, pnl="-999"))  # a re-delivery never rewrites P&L
    assert store.duplicate_trades == 2
    trades = await store.trades_of_day(ACCOUNT, DAY)
    assert [t.pnl for t in trades] == [Decimal("-100")]


async def test_void_updates_the_same_trade(store: SqliteStore) -> None:
    await store.record_trade(trade(1, pnl="-100"))
    await store.record_trade(trade(1, pnl="-100", voided=True))
    assert store.duplicate_trades == 0
    (only,) = await store.trades_of_day(ACCOUNT, DAY)
    assert only.voided


async def test_same_trade_id_on_two_accounts_is_two_trades(store: SqliteStore) -> None:
    await store.record_trade(trade(1))
    await store.record_trade(trade(1, account_id=8))
    assert len(await store.trades_of_day(ACCOUNT, DAY)) == 1
    assert len(await store.trades_of_day(8, DAY)) == 1
    assert store.duplicate_trades == 0


async def test_load_returns_only_the_newest_days_trades(store: SqliteStore) -> None:
    yesterday = DAY - dt.timedelta(days=1)
    await store.save_account_state(account(trading_day=yesterday))
    await store.record_trade(trade(1, trading_day=yesterday))
    await store.before_reset(ACCOUNT, yesterday, T0)
    await store.reset_day(account(realized="0", trades=0))
    await store.record_trade(trade(2))
    state = await store.load(ACCOUNT)
    assert state.account is not None and state.account.trading_day == DAY
    assert [t.trade_id for t in state.trades] == [2]
    assert [a.trading_day for a in await store.daily_history(ACCOUNT)] == [DAY, yesterday]


async def test_lift_lockout_keeps_history_and_is_idempotent(store: SqliteStore) -> None:
    await store.add_lockout(lockout("a"))
    await store.add_lockout(lockout("b", symbol="MNQ"))
    await store.lift_lockout("a", T0 + dt.timedelta(hours=8))
    await store.lift_lockout("a", T0 + dt.timedelta(hours=9))  # first lift wins
    assert [lk.id for lk in (await store.load(ACCOUNT)).lockouts] == ["b"]
    row = await store.fetch_one("SELECT lifted_at FROM lockouts WHERE id = 'a'")
    assert row is not None and row[0] == "2026-11-24T23:00:00.000000Z"


async def test_positions_upsert_remove_replace(store: SqliteStore) -> None:
    await store.upsert_position(position(1, qty=1))
    await store.upsert_position(position(1, qty=3))
    await store.upsert_position(position(2))
    assert [(p.position_id, p.quantity) for p in await store.positions(ACCOUNT)] == [(1, 3), (2, 2)]
    await store.remove_position(ACCOUNT, 2)
    assert [p.position_id for p in await store.positions(ACCOUNT)] == [1]
    await store.replace_positions(ACCOUNT, [position(5), position(6)])
    assert [p.position_id for p in await store.positions(ACCOUNT)] == [5, 6]
    await store.replace_positions(ACCOUNT, [])
    assert await store.positions(ACCOUNT) == []


async def test_timers_keep_their_deadline_and_cancel(store: SqliteStore) -> None:
    await store.start_timer(timer())
    await store.start_timer(timer("big_loss_for|account"))
    await store.cancel_timer(ACCOUNT, "big_loss_for|account")
    (only,) = (await store.load(ACCOUNT)).timers
    assert only.deadline == T0 + dt.timedelta(minutes=2)


async def test_enforcement_history_newest_first(store: SqliteStore) -> None:
    for i in range(5):
        await store.record_enforcement(enforcement(i))
    failed = enforcement(9, outcome=Outcome.FAILED, error="BrokerError: timeout", latency_ms=None)
    await store.record_enforcement(failed)
    history = await store.enforcement_history(ACCOUNT, limit=3)
    assert [h.reason for h in history] == ["loss #9", "loss #4", "loss #3"]
    assert history[0] == failed
    assert history[1].values == {"position.unrealized_pnl": "-400.00"}
    assert history[1].shown == {"position.unrealized_pnl": "-$400.00"}


async def test_metrics_retention_drops_old_samples(db_path: Path) -> None:
    async with SqliteStore(db_path, metrics_retention=dt.timedelta(days=1)) as s:
        old = [MetricSample("queue_depth", 1.0, T0 - dt.timedelta(days=2))]
        await s.record_metrics(old)
        new = [MetricSample("queue_depth", 2.0, T0 + dt.timedelta(hours=2))]
        await s.record_metrics(new)
        summary = await s.metric_summary("queue_depth")
    assert summary is not None and summary.count == 1 and summary.maximum == 2.0


async def _drive(store: StateStore) -> None:
    await store.save_account_state(account())
    for i in (1, 2, 2, 3):
        await store.record_trade(trade(i))
    await store.record_trade(trade(3, voided=True))
    await store.upsert_position(position(1))
    await store.upsert_position(position(2))
    await store.remove_position(ACCOUNT, 1)
    await store.add_lockout(lockout("x"))
    await store.add_lockout(lockout("y", symbol="ES"))
    await store.lift_lockout("x", T0)
    await store.start_timer(timer())
    await store.start_timer(timer("r|account"))
    await store.cancel_timer(ACCOUNT, "r|account")


async def test_parity_with_memory_store(tmp_path: Path) -> None:
    """The same calls on both StateStores restore the same state."""
    memory = MemoryStore()
    await _drive(memory)
    async with SqliteStore(tmp_path / "p.db") as sql:
        await _drive(sql)
        got = await sql.load(ACCOUNT)
    want = await memory.load(ACCOUNT)
    assert dataclasses.replace(got, ruleset=None) == dataclasses.replace(want, ruleset=None)


async def test_unstorable_values_are_store_errors(store: SqliteStore) -> None:
    # the engine catches StoreError (critical log, alert) and keeps enforcing
    with pytest.raises(StoreError, match="naive datetime"):
        await store.add_lockout(dataclasses.replace(lockout(), created_at=dt.datetime(2026, 1, 1)))
    with pytest.raises(StoreError, match="finite"):
        await store.save_account_state(account(realized="NaN"))
    assert await store.active_lockouts() == []
