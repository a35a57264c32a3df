"""`rmdsl status` / `rmdsl history` on a database of several accounts (one daemon supervising
many): a line per account under the fleet's totals, `--account NAME` for one in full."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from rmdsl.commands.fleet_status import fleet_status, render_fleet
from rmdsl.commands.status_render import fmt_money
from rmdsl.engine.persistence import (
    AccountStateRecord,
    EnforcementRecord,
    LockoutRecord,
    UntilKindRecord,
)
from rmdsl.store import SqliteStore

T0 = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 24)
# id, name, realized, trades
ACCOUNTS = (
    (7001, "TOPX-A", "-1052.88", 3),
    (7002, "TOPX-B", "240.00", 5),
    (7003, "TOPX-C", "0", 0),
)


@pytest.fixture
async def fleet_db(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    async with SqliteStore(path) as store:
        for account_id, name, realized, trades in ACCOUNTS:
            await store.save_account_state(
                AccountStateRecord(
                    account_id,
                    DAY,
                    realized_pnl=Decimal(realized),
                    trades=trades,
                    updated_at=T0,
                    account_name=name,
                )
            )
            await store.record_enforcement(
                EnforcementRecord(T0, account_id, f"rule_of_{name}", "flatten", f"{name} fired")
            )
        lockout = LockoutRecord(
            "lk1", 7001, None, "daily_realized_loss", T0 + dt.timedelta(hours=8),
            UntilKindRecord.RESET, T0,
        )  # fmt: skip
        await store.add_lockout(lockout)
        await store.claim_daemon(7002, 4242, "box", T0)
    return path


async def test_every_account_has_its_line_and_the_fleet_its_totals(fleet_db: Path) -> None:
    async with SqliteStore(fleet_db, readonly=True) as store:
        data = await fleet_status(store, T0)
    assert data is not None
    assert [a["name"] for a in data["accounts"]] == ["TOPX-A", "TOPX-B", "TOPX-C"]
    a, b, c = data["accounts"]
    assert (a["locked"], a["lockouts"], b["locked"], c["lockouts"]) == (True, 1, False, 0)
    assert b["daemon"]["pid"] == 4242 and a["daemon"] is None
    fleet = data["fleet"]
    assert (fleet["accounts"], fleet["locked"], fleet["trades"]) == (3, 1, 8)
    assert fleet["realized"] == Decimal("-812.88")
    text = render_fleet(data, fmt_money)
    assert "fleet           3 accounts, 0 with a daemon running, 1 locked out;" in text
    assert "realized -$812.88" in text
    [line_a] = [ln for ln in text.splitlines() if ln.startswith("TOPX-A (7001)")]
    assert "-$1,052.88" in line_a and "1 LOCKED" in line_a


async def test_one_account_alone_is_no_fleet(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "one.db") as store:
        await store.save_account_state(AccountStateRecord(1, DAY, account_name="SOLO"))
        assert await fleet_status(store, T0) is None


async def rmdsl(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rmdsl", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_status_shows_the_fleet_and_one_account_in_full(fleet_db: Path) -> None:
    now = ("--now", "2026-11-24T15:10:00+00:00")
    rc, out, err = await rmdsl("status", "--state", str(fleet_db), *now)
    assert rc == 0, err
    assert out.splitlines()[1].startswith("fleet           3 accounts")
    assert "TOPX-B (7002)" in out and "TOPX-C (7003)" in out
    rc, out, err = await rmdsl("status", "--state", str(fleet_db), "--account", "TOPX-B", *now)
    assert rc == 0, err
    assert "account         TOPX-B (id 7002)" in out and "\nfleet " not in out
    rc, out, _ = await rmdsl("status", "--state", str(fleet_db), "--format", "json", *now)
    assert json.loads(out)["fleet"]["realized"] == "-812.88"


async def test_history_of_the_fleet_names_each_account_and_one_account_filters(
    fleet_db: Path,
) -> None:
    rc, out, err = await rmdsl("history", "--state", str(fleet_db))
    assert rc == 0, err
    assert out.splitlines()[0].split()[:2] == ["time", "account"]
    for _, name, _, _ in ACCOUNTS:
        [line] = [ln for ln in out.splitlines() if f"rule_of_{name}" in ln]
        assert f" {name} " in line
    rc, out, err = await rmdsl("history", "--state", str(fleet_db), "--account", "TOPX-C")
    assert rc == 0, err
    assert "rule_of_TOPX-C" in out and "rule_of_TOPX-A" not in out
    assert "account" not in out.splitlines()[0]
