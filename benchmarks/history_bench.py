"""What the day history costs in the state database: bytes per `day_results` row.

Writes KEEP_DAYS (400) closed days for --accounts accounts through SqliteStore.record_day
(the write the engine makes at each reset, pruning included), then prints the table's
size from SQLite's dbstat (payload and pages) and the file's growth.

    .venv/bin/python benchmarks/history_bench.py
    .venv/bin/python benchmarks/history_bench.py --accounts 10
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sqlite3
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "engine"))

from rmdsl.engine.history import KEEP_DAYS  # noqa: E402
from rmdsl.engine.persistence import DayResultRecord  # noqa: E402
from rmdsl.store.sqlite import SqliteStore  # noqa: E402


def day_row(account: int, day: dt.date, rng: random.Random, high: Decimal) -> DayResultRecord:
    gross = Decimal(rng.randint(-150_000, 150_000)) / 100
    fees = Decimal(rng.randint(0, 6_000)) / 100
    return DayResultRecord(
        account, day, gross, fees, gross - fees, rng.randint(0, 80), high + gross, high
    )


async def fill(path: Path, accounts: int, days: int) -> None:
    rng = random.Random(3)
    async with SqliteStore(path) as store:
        first = dt.date(2025, 1, 1)
        for account in range(1, accounts + 1):
            high = Decimal("50000.00")
            for i in range(days):
                day = first + dt.timedelta(days=i)
                row = day_row(account, day, rng, high)
                high = max(high, row.eod_balance or high)
                await store.record_day(row, keep_from=day - dt.timedelta(days=days))


def measure(path: Path) -> tuple[int, int, int]:
    """(rows, payload bytes, bytes of the table's pages) from dbstat."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT count(*) FROM day_results").fetchone()[0]
        payload, pages = db.execute(
            "SELECT sum(payload), sum(pgsize) FROM dbstat WHERE name = 'day_results'"
        ).fetchone()
    finally:
        db.close()
    return int(rows), int(payload), int(pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1)
    parser.add_argument("--days", type=int, default=KEEP_DAYS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        asyncio.run(fill(path, 0, 0))
        empty = path.stat().st_size
        asyncio.run(fill(path, args.accounts, args.days))
        rows, payload, pages = measure(path)
        grown = path.stat().st_size - empty
    print(f"day_results: {rows} rows ({args.accounts} accounts x {args.days} days)")
    print(f"  payload   {payload / rows:6.1f} bytes/row  ({payload:,} bytes)")
    print(f"  pages     {pages / rows:6.1f} bytes/row  ({pages:,} bytes in the table's pages)")
    print(f"  the file grew by {grown:,} bytes ({grown / rows:.1f} bytes/row)")


if __name__ == "__main__":
    main()
