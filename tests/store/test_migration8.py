"""Migration 8: the closed days' results (`day_results`, bounded by the engine) and the account
model's figures on the day's row (account_state.eod_high, mll, net) for `rmdsl status`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

from store_records import ACCOUNT, DAY, account, trade

from rmdsl.engine.persistence import DayResultRecord
from rmdsl.store import SqliteStore, rows, schema


def _create_at_version_7(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(path)
    try:
        raw.execute(schema.CREATE_MIGRATIONS_TABLE)
        for version in (1, 2, 3, 4, 7):
            for statement in schema.statements(dict(schema.MIGRATIONS)[version]):
                raw.execute(statement)
            raw.execute(
                "INSERT INTO schema_migrations VALUES (?, '2026-11-24T00:00:00Z')", (version,)
            )
        raw.execute(
            f"INSERT INTO account_state VALUES ({', '.join('?' * 14)})",
            rows.ACCOUNTS.params(account())[:14],
        )
        raw.commit()
    finally:
        raw.close()


def day(offset: int, net: str = "-100", high: str | None = "51000") -> DayResultRecord:
    return DayResultRecord(
        ACCOUNT,
        DAY - dt.timedelta(days=offset),
        Decimal(net) + 1,
        Decimal(1),
        Decimal(net),
        2,
        None if high is None else Decimal(high),
        None if high is None else Decimal(high),
    )


async def test_a_version_7_database_reads_before_and_after_migrating(db_path: Path) -> None:
    _create_at_version_7(db_path)
    async with SqliteStore(db_path, readonly=True) as s:  # `rmdsl status`: never migrates
        row = await s.account_state(ACCOUNT)
        assert await s.day_results(ACCOUNT, DAY) == []
    assert row is not None and (row.eod_high, row.mll, row.net) == (None, None, None)
    async with SqliteStore(db_path) as s:
        state = await s.load(ACCOUNT)
    assert state.days == () and state.account is not None and state.account.mll is None


async def test_day_rows_round_trip_oldest_first_and_are_pruned(store: SqliteStore) -> None:
    await store.record_day(day(3), keep_from=DAY - dt.timedelta(days=30))
    await store.record_day(day(1, "-250.55", None), keep_from=DAY - dt.timedelta(days=30))
    rows = await store.day_results(ACCOUNT, DAY)
    assert [r.trading_day for r in rows] == [DAY - dt.timedelta(days=3), DAY - dt.timedelta(days=1)]
    assert rows[1].realized_pnl == Decimal("-250.55") and rows[1].eod_high is None
    await store.record_day(day(1, "-300"), keep_from=DAY - dt.timedelta(days=2))  # upsert + prune
    assert [(r.trading_day, r.realized_pnl) for r in await store.day_results(ACCOUNT, DAY)] == [
        (DAY - dt.timedelta(days=1), Decimal("-300"))
    ]


async def test_load_returns_the_kept_days_and_the_closed_days_fills(store: SqliteStore) -> None:
    await store.save_account_state(account())
    await store.record_day(day(1), keep_from=DAY - dt.timedelta(days=30))
    await store.record_trade(trade(1, trading_day=DAY - dt.timedelta(days=1)))
    await store.record_trade(trade(2, trading_day=DAY - dt.timedelta(days=40)))  # out of reach
    await store.record_trade(trade(3))  # today's: in `trades`, not in the window's
    state = await store.load(ACCOUNT)
    assert [d.trading_day for d in state.days] == [DAY - dt.timedelta(days=1)]
    assert [t.trade_id for t in state.recent_trades] == [1]
    assert [t.trade_id for t in state.trades] == [3]


async def test_the_account_model_figures_round_trip(store: SqliteStore) -> None:
    row = dataclasses.replace(
        account(), eod_high=Decimal(51000), mll=Decimal(49000), net=Decimal("50123.45")
    )
    await store.save_account_state(row)
    got = await store.account_state(ACCOUNT)
    assert got is not None and (got.eod_high, got.mll, got.net) == (
        51000,
        49000,
        Decimal("50123.45"),
    )
