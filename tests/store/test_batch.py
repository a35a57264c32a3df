"""SqliteStore.apply: a batch of engine writes is one transaction, all or nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from store_records import ACCOUNT, account, lockout, position, timer, trade

from rmdsl.engine.persistence import (
    AddLockout,
    RecordMetrics,
    RecordTrade,
    SaveAccount,
    StartTimer,
    UpsertPosition,
)
from rmdsl.errors import StoreError
from rmdsl.store import SqliteStore


async def test_a_batch_is_committed_together(store: SqliteStore) -> None:
    await store.apply(
        [
            RecordTrade(trade(1)),
            SaveAccount(account()),
            UpsertPosition(position()),
            StartTimer(timer()),
            AddLockout(lockout()),
            RecordMetrics(()),
        ]
    )
    state = await store.load(ACCOUNT)
    assert state.trades == (trade(1),) and state.account == account()
    assert state.positions == (position(),) and state.timers == (timer(),)
    assert state.lockouts == (lockout(),)


async def test_a_failing_batch_leaves_nothing_behind(store: SqliteStore, db_path: Path) -> None:
    with sqlite3.connect(db_path) as raw:
        raw.execute("DROP TABLE timers")  # the batch's last write will fail
    with pytest.raises(StoreError):
        await store.apply([RecordTrade(trade(1)), SaveAccount(account()), StartTimer(timer())])
    assert await store.account_state(ACCOUNT) is None
    assert await store.trades_of_day(ACCOUNT, trade(1).trading_day) == []


async def test_a_duplicate_fill_in_a_batch_is_counted_and_ignored(store: SqliteStore) -> None:
    await store.apply([RecordTrade(trade(1)), RecordTrade(trade(1))])
    assert store.duplicate_trades == 1
