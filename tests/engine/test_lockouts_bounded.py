"""A rule that pauses on every fill keeps one pause, not one per fill (rmdsl.engine.lockouts):
the 200-account run's census counted +1,175 lockout records in 16 minutes, the catalogue's
trade_frequency_hour starting a new 30-minute pause on each fill beyond its limit while
the older ones were still active (docs/performance.md, "Cheaper fills of the day (r14k)")."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path

from enginekit import Harness, clock, fill, position

from rmdsl.contract.events import Side
from rmdsl.enforce.recording_broker import BrokerCall, RecordingBroker
from rmdsl.engine.persistence import LockoutRecord
from rmdsl.errors import BrokerError
from rmdsl.pipeline import load_ruleset

START = dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC)  # Monday 09:00 America/Chicago
BUSY_RULES = """rmdsl: 1
name: t
rules:
  busy:
    scope: trade
    when: fills(1h) > 1
    do: [{action}]
"""
BUSY = BUSY_RULES.format(action="pause(30m)")


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
    # the store's rows: the one pause, its end moved by each fill, never lifted
    rows = list(h.store.lockouts.values())
    assert [(r.id, r.until_ts, r.lifted_at) for r in rows] == [(active.id, active.until_ts, None)]
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


class CloseFailsOnce(RecordingBroker):
    """The first close_position fails (recorded), the next ones work."""

    failed = False

    async def close_position(self, contract_id: str) -> None:
        if self.failed:
            return await super().close_position(contract_id)
        self.failed = True
        self.calls.append(BrokerCall(self._now(), "close_position", (contract_id,)))
        raise BrokerError("close_position: connection reset")


async def test_a_close_retried_under_a_pause_goes_on_when_the_pause_is_extended(
    tmp_path: Path,
) -> None:
    """A retry stands while its pause is active: the pause a later fill extends is the same
    one, so the retry is not dropped as if the pause had ended."""
    (tmp_path / "r.yaml").write_text(BUSY)
    h = Harness(load_ruleset(tmp_path / "r.yaml"), start=START, timeout_s=0.01)
    broker = CloseFailsOnce()
    broker.state = h.engine.state
    h.broker = h.engine.broker = h.engine.enforcer.broker = broker
    await h.start()
    mes = "CON.F.US.MES.H26"
    await h.feed(fill(1, t(0)), fill(2, t(1), 5, side=Side.SELL))  # paused from t(1)
    await h.feed(position(t(120), 1, contract=mes, price=5000))  # its close fails: retried
    (pause,) = h.engine.lockouts.active.values()
    await h.feed(fill(3, t(121)), fill(4, t(121), 5, side=Side.SELL))  # the pause extended
    (extended,) = h.engine.lockouts.active.values()
    assert (extended.id, extended.created_at) == (pause.id, pause.created_at)
    assert extended.until_ts is not None and pause.until_ts is not None
    assert extended.until_ts > pause.until_ts
    while (due := h.engine.next_wakeup()) is not None and due <= t(300):
        await h.feed(clock(due))
    closes = [c for c in broker.calls if c.method == "close_position"]
    assert [c.args for c in closes] == [(mes,), (mes,)]  # the failed one and its retry
    assert mes not in h.engine.state.positions
