"""`rmdsl status` shows the distance to the trailing MLL (account.to_mll) and the MLL level,
as the engine saved them in the state database (rmdsl.commands.status_account)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_status_history import rmdsl
from tests.engine.enginekit import Harness, at, clock, fill
from tests.engine.test_account_history import RESET, account_rules, balance

from rmdsl.contract.events import Side
from rmdsl.store.sqlite import SqliteStore


async def _day(path: Path) -> None:
    async with SqliteStore(path) as store:
        h = await Harness(account_rules(), store=store).start()  # type: ignore[arg-type]
        await h.feed(balance(at(60), 51000), clock(at(RESET)))  # Monday's EOD: $51,000
        await h.feed(fill(1, at(RESET + 3600)), fill(2, at(RESET + 3601), -300, side=Side.SELL))
        await h.feed(balance(at(RESET + 3602), 50700))
        await h.engine.stop()


async def test_status_shows_the_distance_to_the_mll(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    await _day(path)
    rc, out, err = await rmdsl("status", "--state", str(path))
    assert rc == 0, err
    assert "to MLL          $1,700.00, net $50,700.00; MLL $49,000.00" in out
    assert "(end-of-day high $51,000.00)" in out
    rc, out, err = await rmdsl("status", "--state", str(path), "--format", "json")
    data = json.loads(out)
    assert data["mll"] == {
        "mll": "49000",
        "eod_high": "51000",
        "net": "50700",
        "to_mll": "1700",
    }
