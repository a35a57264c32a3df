"""The daemon's reconcile: retried until it succeeds, its status said, alerted past a bound.

A recording broker whose snapshot fails on demand and a memory store that
keeps the daemon status rows: no gateway, short settable bounds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from rmdsl.contract.broker import Snapshot
from rmdsl.contract.events import ConnectionEvent, ConnectionState
from rmdsl.daemon import Daemon
from rmdsl.enforce.recording_broker import RecordingBroker
from rmdsl.errors import BrokerError
from rmdsl.notify import CollectingNotifier
from rmdsl.tooling.memory_store import MemoryStore

RULESET = "rmdsl: 1\nname: reconcile\nrules: {}\n"
NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


class FlakyBroker(RecordingBroker):
    """Its next `snapshot_failures` snapshots raise BrokerError."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshot_failures = 0

    async def snapshot(self) -> Snapshot:
        if self.snapshot_failures > 0:
            self.snapshot_failures -= 1
            raise BrokerError("trade search: Server error: 500")
        return await super().snapshot()


class StatusStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[tuple[int, str, dt.datetime | None]] = []

    async def set_daemon_status(self, account_id: int, status: str, since: dt.datetime) -> None:
        self.statuses.append((account_id, status, since))


def daemon(tmp_path: Path, broker: FlakyBroker, store: MemoryStore, tick_s: float = 1.0) -> Daemon:
    path = tmp_path / "r.yaml"
    path.write_text(RULESET, encoding="utf-8")
    return Daemon(
        path,
        broker,
        store,
        CollectingNotifier(),
        clock=lambda: NOW,
        reload=False,
        lock_dir=tmp_path / "locks",  # the account's claim writes the status rows
        unreconciled_alert_s=0.05,
        retry_s=(0.01, 0.02),
        tick_s=tick_s,
    )


def overdue(d: Daemon) -> list[str]:
    notifier = d.notifier
    assert isinstance(notifier, CollectingNotifier)
    return [a.body for a in notifier.alerts if a.title == "not reconciled"]


async def test_a_failing_start_snapshot_is_retried_and_alerted_past_the_bound(
    tmp_path: Path,
) -> None:
    broker, store = FlakyBroker(), StatusStore()
    broker.snapshot_failures = 8
    d = daemon(tmp_path, broker, store, tick_s=0.01)  # the clock checks the bound too
    assert not d.reconciled and d.unreconciled_since == NOW
    await d.start()
    try:
        assert d.reconciled and d.unreconciled_since is None and broker.snapshot_failures == 0
        notifier = d.notifier
        assert isinstance(notifier, CollectingNotifier)
        assert notifier.titles() == ["not reconciled", "reconciled"]
        (body,) = overdue(d)  # what began it, and what is enforced meanwhile (D18)
        assert " after start: " in body and "already in force are still enforced" in body
        await asyncio.wait_for(_until(lambda: said(store)[-1:] == ["running"]), 5)  # a task
        assert said(store) == ["not reconciled", "running"]
    finally:
        await d.stop()


async def test_a_disconnect_unreconciles_until_the_reconnect_reconciles(tmp_path: Path) -> None:
    broker, store = FlakyBroker(), StatusStore()
    d = daemon(tmp_path, broker, store)
    await d.start()
    try:
        engine = d.engine
        assert engine is not None
        await d.primary._sink(ConnectionEvent(ConnectionState.DISCONNECTED, NOW))
        await asyncio.wait_for(_until(lambda: not d.reconciled), 5)
        assert d.unreconciled_since == NOW and not engine.evaluating
        broker.snapshot_failures = 3
        await d.primary._sink(ConnectionEvent(ConnectionState.CONNECTED, NOW))
        await asyncio.wait_for(_until(lambda: d.reconciled), 5)
        assert engine.evaluating and broker.snapshot_failures == 0
        await asyncio.wait_for(_until(lambda: said(store) == RECONNECTED), 5)
    finally:
        await d.stop()


async def test_the_overdue_alert_while_the_broker_is_away_names_the_disconnect(
    tmp_path: Path,
) -> None:
    d = daemon(tmp_path, FlakyBroker(), MemoryStore(), tick_s=0.01)
    await d.start()
    try:
        assert overdue(d) == []
        await d.primary._sink(ConnectionEvent(ConnectionState.DISCONNECTED, NOW))
        await asyncio.wait_for(_until(lambda: overdue(d) != []), 5)  # the clock's check
        (body,) = overdue(d)
        assert " after a disconnect: " in body
    finally:
        await d.stop()


async def test_without_a_status_table_the_daemon_still_runs(tmp_path: Path) -> None:
    d = daemon(tmp_path, FlakyBroker(), MemoryStore())
    await d.start()
    try:
        assert d.reconciled
    finally:
        await d.stop()


RECONNECTED = ["running", "not reconciled", "running"]


def said(store: StatusStore) -> list[str]:
    """The status words written, repeats folded."""
    out: list[str] = []
    for _, status, _ in store.statuses:
        if not out or out[-1] != status:
            out.append(status)
    return out


async def _until(predicate: object) -> None:
    assert callable(predicate)
    while not predicate():
        await asyncio.sleep(0.01)
