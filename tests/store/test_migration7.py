"""Migration 7: whose fill it is (trades.by_rmdsl) and the params in force for the trading day
(account_state.params_json); `load` also returns the previous trading day (issue 9)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from pathlib import Path

from store_records import ACCOUNT, DAY, account, trade

from rmdsl.store import SqliteStore, rows, schema

WAITING = {
    "in_force": {"daily_loss": "-400"},
    "waiting": ["daily_loss -$1,000.00 from the file waits for the reset at 17:00 CST; ..."],
}


def _create_at_version_3(path: Path) -> None:
    """A database written before migration 7: one day's row and one fill."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(path)
    try:
        raw.execute(schema.CREATE_MIGRATIONS_TABLE)
        for version in (1, 2, 3):
            for statement in schema.statements(dict(schema.MIGRATIONS)[version]):
                raw.execute(statement)
            raw.execute(
                "INSERT INTO schema_migrations VALUES (?, '2026-11-24T00:00:00Z')", (version,)
            )
        raw.execute(
            f"INSERT INTO account_state VALUES ({', '.join('?' * 13)})",
            rows.ACCOUNTS.params(account())[:13],
        )
        raw.execute(
            f"INSERT INTO trades VALUES ({', '.join('?' * 13)})", rows.TRADES.params(trade(1))[:13]
        )
        raw.commit()
    finally:
        raw.close()


async def test_a_version_3_database_migrates_to_the_trader_s_fills_and_no_params(
    db_path: Path,
) -> None:
    _create_at_version_3(db_path)
    async with SqliteStore(db_path) as s:
        state = await s.load(ACCOUNT)
    assert state.account is not None and state.account.params == {}
    (old,) = state.trades
    assert not old.by_rmdsl  # a fill written before: the trader's


async def test_a_version_3_database_reads_before_migrating(db_path: Path) -> None:
    """`rmdsl status` / `history` open read-only and never migrate: the new columns default."""
    _create_at_version_3(db_path)
    async with SqliteStore(db_path, readonly=True) as s:
        day = await s.account_state(ACCOUNT)
        (old,) = await s.trades_of_day(ACCOUNT, DAY)
        history = await s.daily_history(ACCOUNT)
    assert day is not None and day.params == {} and not old.by_rmdsl and len(history) == 1


async def test_by_rmdsl_and_the_params_in_force_round_trip(store: SqliteStore) -> None:
    await store.record_trade(trade(1, by_rmdsl=True))
    await store.record_trade(trade(2))
    await store.save_account_state(account(params=WAITING))
    state = await store.load(ACCOUNT)
    assert [t.by_rmdsl for t in state.trades] == [True, False]
    assert state.account is not None and state.account.params == WAITING


async def test_load_returns_the_previous_trading_day_and_its_fills(store: SqliteStore) -> None:
    before = DAY - dt.timedelta(days=3)  # a weekend between: the newest day before
    await store.save_account_state(account("-600", trading_day=before))
    await store.record_trade(trade(1, trading_day=before))
    await store.save_account_state(account("-10"))
    await store.record_trade(trade(2))
    state = await store.load(ACCOUNT)
    assert state.account is not None and state.account.trading_day == DAY
    assert state.previous is not None and state.previous.trading_day == before
    assert [t.trade_id for t in state.previous_trades] == [1]
    assert [t.trade_id for t in state.trades] == [2]
    # the old day's row is rewritten (a late fill) without becoming the newest
    old = dataclasses.replace(state.previous, realized_pnl=state.previous.realized_pnl - 50)
    await store.save_account_state(old)
    again = await store.load(ACCOUNT)
    assert again.account is not None and again.account.trading_day == DAY
    assert again.previous is not None and again.previous.realized_pnl == old.realized_pnl
