"""Loosening waits for the reset, also across restarts and crashes (issue 9, section 4).

Each test runs the real Engine on the real SqliteStore in tmp_path: stopping the
daemon, loosening a limit in the file and starting again must not apply it early.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from pathlib import Path

import pytest
from enginekit import CHICAGO, D, fill, param, rule, ruleset

from rmdsl.contract.events import ClockEvent
from rmdsl.enforce.recording_broker import RecordingBroker
from rmdsl.engine.core import Engine
from rmdsl.lang.context import EvalContext
from rmdsl.lang.schema import Trigger, UntilKind
from rmdsl.notify import CollectingNotifier
from rmdsl.rules.model import Action, Ruleset, Stricter
from rmdsl.store import SqliteStore


def _hit(c: EvalContext) -> bool:
    return bool(c.day.realized_pnl <= c.params["daily_loss"])  # type: ignore[operator]


LIMIT = rule("daily", _hit, (Action("lockout", {"until": UntilKind.RESET}),), on=(Trigger.TRADE,))


def local(hh: int, mm: int = 0, day: int = 2) -> dt.datetime:
    return dt.datetime(2026, 3, day, hh, mm, tzinfo=CHICAGO).astimezone(dt.UTC)


def limit(value: str) -> Ruleset:
    return ruleset(LIMIT, params={"daily_loss": param("daily_loss", D(value), Stricter.HIGHER)})


async def start(rs: Ruleset, store: SqliteStore, now: dt.datetime) -> Engine:
    broker = RecordingBroker()
    eng = Engine(rs, broker, store, CollectingNotifier(), lambda: now, account_id=1)
    broker.state = eng.state
    await eng.start()
    return eng


async def test_a_restart_with_a_loosened_file_keeps_the_day_s_limit_until_the_reset(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Today: stop, loosen -$400 to -$1,000, start: -$1,000 applied at once."""
    db = tmp_path / "state.db"
    async with SqliteStore(db) as store:
        eng = await start(limit("-400"), store, local(9))
        await eng.process(fill(1, local(9, 5), -300))
        await eng.stop()
    caplog.set_level(logging.WARNING, "rmdsl.engine")
    async with SqliteStore(db) as store:
        eng = await start(limit("-1000"), store, local(10))
        assert eng.ctx.params["daily_loss"] == D(-400)
        assert eng.deferred_params == {"daily_loss": D(-1000)}
        line = (
            "daily_loss -$1,000.00 from the file waits for the reset at 17:00 CST; "
            "-$400.00 is in force"
        )
        assert line in caplog.messages
        await eng.process(fill(2, local(10, 5), -150))  # -$450: past the day's -$400
        assert eng.lockouts.account_locked
        await eng.process(ClockEvent(local(17, 0, day=2) + dt.timedelta(seconds=1)))
        assert eng.ctx.params["daily_loss"] == D(-1000) and eng.deferred_params == {}
        await eng.stop()


async def test_a_tightened_file_applies_at_once_at_start(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    async with SqliteStore(db) as store:
        eng = await start(limit("-400"), store, local(9))
        await eng.stop()
    async with SqliteStore(db) as store:
        eng = await start(limit("-250"), store, local(10))
        assert eng.ctx.params["daily_loss"] == D(-250) and eng.deferred_params == {}
        await eng.stop()


async def test_a_hot_reload_s_deferral_survives_a_crash(tmp_path: Path) -> None:
    """Today: the loosening deferred by a hot reload was lost at the next start."""
    db = tmp_path / "state.db"
    async with SqliteStore(db) as store:
        eng = await start(limit("-400"), store, local(9))
        await eng.swap_ruleset(limit("-1000"))
        await eng.flush()  # the swap's batch is committed by the writer
        assert eng.ctx.params["daily_loss"] == D(-400)
        # a crash: no stop(), nothing saved after the swap
    async with SqliteStore(db) as store:
        eng = await start(limit("-1000"), store, local(11))
        assert eng.ctx.params["daily_loss"] == D(-400)
        assert eng.deferred_params == {"daily_loss": D(-1000)}
        await eng.stop()


async def test_a_restart_on_the_next_trading_day_takes_the_file_as_it_is(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    async with SqliteStore(db) as store:
        eng = await start(limit("-400"), store, local(9))
        await eng.stop()
    async with SqliteStore(db) as store:
        eng = await start(limit("-1000"), store, local(9, day=3))
        assert eng.ctx.params["daily_loss"] == D(-1000) and eng.deferred_params == {}
        await eng.stop()


async def test_rmdsl_status_shows_the_waiting_loosening(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    async with SqliteStore(db) as store:
        eng = await start(limit("-400"), store, local(9))
        await eng.stop()
    async with SqliteStore(db) as store:
        eng = await start(limit("-1000"), store, local(10))
        await eng.stop()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rmdsl",
        "status",
        "--state",
        str(db),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert (
        "daily_loss -$1,000.00 from the file waits for the reset at 17:00 CST; -$400.00 is in force"
    ) in out.decode()
