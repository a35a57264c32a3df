"""`rmdsl run --record`: the recorder's files per trading day, on a virtual clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from rmdsl.engine.tradingday import trading_day
from rmdsl.notify import CollectingNotifier
from rmdsl.recorder import SessionRecorder, day_path
from rmdsl.recording import read_recording

CHICAGO = ZoneInfo("America/Chicago")


def day_of(ts: dt.datetime) -> dt.date:
    return trading_day(ts, CHICAGO, dt.time(17, 0))


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def trade(trade_id: int) -> dict[str, object]:
    return {
        "id": trade_id,
        "accountId": 7001,
        "contractId": "CON.F.US.MNQ.Z26",
        "creationTimestamp": "2026-11-30T22:00:00Z",
        "price": 21000.0,
        "profitAndLoss": None,
        "fees": 0.37,
        "side": 0,
        "size": 1,
        "voided": False,
        "orderId": trade_id,
    }


def test_day_path_names_the_trading_day() -> None:
    assert day_path(Path("/r/day.jsonl"), dt.date(2026, 11, 30)) == Path("/r/day-2026-11-30.jsonl")
    assert day_path(Path("/r/day"), dt.date(2026, 11, 30)) == Path("/r/day-2026-11-30.jsonl")


async def test_lines_rotate_at_the_rulesets_reset(tmp_path: Path) -> None:
    # 16:59 Chicago on Mon Nov 30 is still Nov 30's trading day; 17:00 starts Dec 1's
    clock = Clock(dt.datetime(2026, 11, 30, 22, 59, tzinfo=dt.UTC))
    rec = SessionRecorder(tmp_path / "rec" / "session.jsonl", day_of, clock=clock, flush_s=3600)
    await rec.start()
    rec.put("GatewayUserTrade", trade(1))
    rec.put("GatewayQuote", ("CON.F.US.MNQ.Z26", {"lastPrice": 21000.0}))
    clock.now = dt.datetime(2026, 11, 30, 23, 0, 1, tzinfo=dt.UTC)
    rec.put("GatewayUserTrade", trade(2))
    await rec.stop()
    before = tmp_path / "rec" / "session-2026-11-30.jsonl"
    after = tmp_path / "rec" / "session-2026-12-01.jsonl"
    assert rec.paths == [before, after]
    first, second = read_recording(before), read_recording(after)  # what replay reads
    assert [r.target for r in first] == ["GatewayUserTrade", "GatewayQuote"]
    assert [r.target for r in second] == ["GatewayUserTrade"]
    assert second[0].received == clock.now
    assert rec.written == 3


async def test_put_does_not_write_until_the_background_flush(tmp_path: Path) -> None:
    rec = SessionRecorder(tmp_path / "s.jsonl", day_of, flush_s=3600)
    await rec.start()
    rec.put("GatewayUserTrade", trade(1))
    assert list(tmp_path.iterdir()) == []  # buffered: put never touches the disk
    await rec.flush()
    assert rec.written == 1
    await rec.stop()


async def test_a_write_failure_is_alerted_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    notifier = CollectingNotifier()
    rec = SessionRecorder(blocker / "s.jsonl", day_of, notifier, flush_s=3600)
    rec.put("GatewayUserTrade", trade(1))
    await rec.flush()
    rec.put("GatewayUserTrade", trade(2))
    await rec.flush()
    assert rec.failed and rec.written == 0
    assert notifier.titles() == ["recording failed"]
    assert caplog.text.count("line(s) lost") == 2


def test_an_unencodable_payload_is_logged_not_raised(tmp_path: Path) -> None:
    rec = SessionRecorder(tmp_path / "s.jsonl", day_of)
    rec.put("GatewayUserTrade", {"bad": float("nan"), 1j: 2})  # complex key: json refuses
    assert rec._buffer == []
