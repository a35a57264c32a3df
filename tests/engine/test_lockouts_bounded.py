"""A rule that pauses on every fill keeps one pause, not one per fill (rmdsl.engine.lockouts):
the 200-account run's census counted +1,175 lockout records in 16 minutes, the catalogue's
trade_frequency_hour starting a new 30-minute pause on each fill beyond its limit while
the older ones were still active (docs/performance.md, "Cheaper fills of the day (r14k)")."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path

from enginekit import Harness, fill, position

from rmdsl.contract.events import Side
from rmdsl.engine.persistence import LockoutRecord
from rmdsl.pipeline import load_ruleset

START = dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC)  # Monday 09:00 America/Chicago
BUSY = """rmdsl: 1
name: t
rules:
  busy:
    scope: trade
    when: fills(1h) > 1
    do: [pause(30m)]
"""


def t(seconds: float) -> dt.datetime:
    return START + dt.timedelta(seconds=seconds)


async def test_a_pause_on_every_fill_keeps_one_active_record(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(BUSY)
    h = await Harness(load_ruleset(tmp_path / "r.yaml"), start=START).start()
    for n in range(300):  # a round trip every 20 s: a new pause on every fill
        ts = t(20 * n)
        await h.feed(fill(2 * n + 1, ts), position(ts, 1))
        await h.feed(fill(2 * n + 2, ts, 5, side=Side.SELL), position(ts, 0))
        h.records.clear()
    (active,) = h.engine.lockouts.active.values()
    assert active.created_at == t(0)  # paused since the first: what opened since is policed
    assert active.until_ts == t(20 * 299) + dt.timedelta(minutes=30)
    # the store's rows: one active, the replaced ones lifted when the next was set
    rows = list(h.store.lockouts.values())
    assert [r.id for r in rows if r.lifted_at is None] == [active.id]
    assert len(rows) >= 299 and all(r.lifted_at is not None for r in rows if r.id != active.id)
    h.store.lockouts.clear()  # the memory store keeps every row, as a database would
    del rows
    gc.collect()
    assert sum(1 for o in gc.get_objects() if isinstance(o, LockoutRecord)) <= 3


async def test_a_position_opened_during_the_chain_of_pauses_is_still_closed(
    tmp_path: Path,
) -> None:
    (tmp_path / "r.yaml").write_text(BUSY)
    h = await Harness(load_ruleset(tmp_path / "r.yaml"), start=START).start()
    await h.feed(fill(1, t(0)), fill(2, t(1), 5, side=Side.SELL))  # paused from t(1)
    await h.feed(fill(3, t(60)), fill(4, t(61), 5, side=Side.SELL))  # a longer pause
    assert len(h.engine.lockouts.active) == 1
    await h.feed(position(t(120), 1, contract="CON.F.US.MES.H26", price=5000))
    assert h.broker.calls[-1].describe() == "close_position(CON.F.US.MES.H26)"
