"""/metrics of many accounts is written in slices: the event loop runs between them, and the
text is the same as written in one go (rmdsl.dashboard.prom_accounts.account_text_sliced)."""

from __future__ import annotations

import asyncio
import datetime as dt

from rmdsl.dashboard.feed import DaemonFeed
from rmdsl.dashboard.fleet import AccountView
from rmdsl.dashboard.prom_accounts import account_text, account_text_sliced
from rmdsl.engine.persistence import EnforcementRecord
from rmdsl.metrics import Metrics

AT = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)


def _views(n: int) -> list[AccountView]:
    feed, metrics = DaemonFeed(), Metrics()
    for i in range(n):
        feed.record(EnforcementRecord(AT, i, "max_loss", "flatten", "lost", latency_ms=float(i)))
    return [AccountView(i, f"ACC-{i:03d}", None, False, None, feed, metrics) for i in range(n)]


async def _ticks_during(scrape: asyncio.Task[str]) -> int:
    """How many times another task ran while `scrape` was being written."""
    ticks = 0
    while not scrape.done():
        ticks += 1
        await asyncio.sleep(0)
    return ticks


async def test_a_scrape_of_200_accounts_lets_the_loop_run_between_slices() -> None:
    views = _views(200)
    scrape = asyncio.create_task(account_text_sliced(views, per_slice=20))
    ticks = await _ticks_during(scrape)
    # 200 accounts in slices of 20: 9 yields between them, each lets the ticker run
    assert ticks >= 9
    assert scrape.result() == account_text(views)


async def test_a_scrape_written_in_one_slice_never_yields() -> None:
    views = _views(30)
    scrape = asyncio.create_task(account_text_sliced(views, per_slice=50))
    ticks = await _ticks_during(scrape)
    assert ticks <= 1  # the task's own first step: the text was written in one go
    text = scrape.result()
    assert 'rmdsl_account_info{account="ACC-029",account_id="29",ruleset=""} 1.0' in text
    assert 'rmdsl_enforcements_total{account="ACC-007",outcome="ok",rule="max_loss"} 1.0' in text
