"""`rmdsl run` with `accounts` in its config, as subprocesses on the simulated gateway: one
login for the globbed accounts, a second daemon refusing only the account the first holds,
config edits followed, SIGTERM releasing every account (docs/operations.md, "Many accounts").
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from test_run import RULESET, wait_for
from test_run_lock import Run, runs, spawn

from rmdsl.broker.simgateway import SimGateway
from rmdsl.store.lock import probe

__all__ = ["runs"]  # the fixture, shared with test_run_lock
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
NAMES = ("PRAC-SIM-1", "PRAC-SIM-2", "PRAC-SIM-3")


@pytest.fixture
async def gw() -> AsyncIterator[SimGateway]:
    async with SimGateway(accounts=[(n, Decimal(50000)) for n in NAMES]) as gateway:
        yield gateway


async def start(runs: list[Run], gw: SimGateway, tmp_path: Path, name: str, accounts: str) -> Run:
    (tmp_path / "rules.yaml").write_text(RULESET, encoding="utf-8")
    config = tmp_path / f"{name}.toml"
    config.write_text(f'ruleset = "{tmp_path / "rules.yaml"}"\naccounts = {accounts}\n')
    args = ["--config", str(config), "--state", str(tmp_path / f"{name}.db"), "--no-dashboard"]
    return await spawn(runs, gw, tmp_path, name, args)


async def test_two_many_account_daemons_share_out_the_accounts_and_follow_their_configs(
    gw: SimGateway, tmp_path: Path, runs: list[Run]
) -> None:
    ids = {a.name: a.id for a in gw.market.iter_accounts()}
    locks = tmp_path / "locks"
    first = await start(runs, gw, tmp_path, "first", '["PRAC-SIM-1", "prac-sim-2"]')
    await wait_for(lambda: first.logged("daemon running for accounts"), 60, "the first")
    assert len(gw.requests.calls("/Auth/loginKey")) == 1  # one login for both accounts

    second = await start(runs, gw, tmp_path, "second", '["PRAC-SIM-*"]')
    await wait_for(lambda: second.logged("daemon running for account"), 60, "the second")
    held = f"account {ids['PRAC-SIM-2']} is already enforced by rmdsl pid {first.proc.pid}"
    assert second.logged(held), second.log.read_text()
    holder = probe(ids["PRAC-SIM-3"], locks)
    assert not isinstance(holder, bool) and holder.pid == second.proc.pid

    config = tmp_path / "first.toml"  # the first lets account 2 go: its lock is released
    config.write_text(config.read_text().replace(', "prac-sim-2"', ""), encoding="utf-8")
    await wait_for(lambda: probe(ids["PRAC-SIM-2"], locks) is False, 30, "account 2 released")
    assert first.logged("left the config")
    holder = probe(ids["PRAC-SIM-1"], locks)
    assert not isinstance(holder, bool) and holder.pid == first.proc.pid

    for run in (first, second):
        run.proc.send_signal(signal.SIGTERM)
        rc, err = await run.finish()
        assert rc == 0, err
    for account in ids.values():
        assert probe(account, locks) is False
    with sqlite3.connect(tmp_path / "second.db") as db:
        rows = db.execute("SELECT account_id, status FROM daemons").fetchall()
    assert rows == [(ids["PRAC-SIM-3"], "stopped")]
