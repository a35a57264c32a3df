"""Recordings: every payload shape the hubs send parses; a bad line is a located error."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from rmdsl.contract.events import ClockEvent, OrderEvent, QuoteEvent, TradeEvent
from rmdsl.recording import RecordingError, RecordingWriter, iter_recording, read_recording

ROOT = Path(__file__).resolve().parents[1]
TS = "2026-03-02T14:30:00.000+00:00"


def parse(*lines: object) -> list[object]:
    text = "\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines)
    return [r.event for r in iter_recording(io.StringIO(text), "rec.jsonl")]


def error_of(*lines: object) -> str:
    with pytest.raises(RecordingError) as info:
        parse(*lines)
    return str(info.value)


def test_the_example_recording_parses() -> None:
    recorded = read_recording(ROOT / "examples/recordings/topstep-session.jsonl")
    kinds = {type(r.event).__name__ for r in recorded}
    assert kinds >= {"TradeEvent", "PositionEvent", "OrderEvent", "QuoteEvent", "ClockEvent"}


def test_wrapped_and_bare_payloads() -> None:
    trade = {
        "id": 5,
        "accountId": 1,
        "contractId": "CON.F.US.MNQ.H26",
        "creationTimestamp": TS,
        "price": 21000.25,
        "profitAndLoss": -12.5,
        "fees": 0.74,
        "side": 1,
        "size": 1,
        "voided": False,
        "orderId": 9,
    }
    a, b = parse(
        {"ts": TS, "target": "GatewayUserTrade", "data": {"action": 0, "data": trade}},
        {"ts": TS, "target": "GatewayUserTrade", "data": trade},
    )
    assert isinstance(a, TradeEvent) and a == b
    assert a.pnl == Decimal("-12.5") and a.price == Decimal("21000.25")


def test_quote_shapes_and_midpoint() -> None:
    q = {"symbol": "CON.F.US.MNQ.H26", "lastPrice": 0, "bestBid": 100, "bestAsk": 101}
    a, b = parse(
        {"ts": TS, "target": "GatewayQuote", "data": ["CON.F.US.MNQ.H26", q]},
        {"ts": TS, "target": "GatewayQuote", "data": q},
    )
    assert isinstance(a, QuoteEvent) and a.price == Decimal("100.5") and a == b
    assert a.ts == dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)  # the line's ts as fallback


def test_clock_lines_and_comments() -> None:
    (ev,) = parse("# a comment", "", {"ts": "2026-03-02T08:30:00-06:00", "clock": True})
    assert isinstance(ev, ClockEvent) and ev.ts == dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)


def test_errors_are_located() -> None:
    assert error_of("{not json").startswith("rec.jsonl:1: invalid JSON")
    assert error_of({"ts": TS, "clock": True}, {"ts": TS}) == (
        "rec.jsonl:2: 'target' must be one of GatewayUserTrade, GatewayUserPosition, "
        "GatewayUserOrder, GatewayUserAccount, GatewayQuote, got None"
    )
    assert error_of({"target": "GatewayQuote", "data": {}}) == "rec.jsonl:1: missing 'ts'"
    msg = error_of({"ts": TS, "target": "GatewayUserOrder", "data": {"id": 1, "status": 42}})
    assert msg.startswith("rec.jsonl:1: ")
    assert "bad timestamp" in error_of({"ts": "yesterday", "clock": True})
    assert "unknown key 'extra'" in error_of({"ts": TS, "clock": True, "extra": 1})


def test_writer_round_trips() -> None:
    out = io.StringIO()
    w = RecordingWriter(out)
    order = {
        "id": 3,
        "accountId": 1,
        "contractId": "CON.F.US.MNQ.H26",
        "creationTimestamp": TS,
        "status": 1,
        "type": 4,
        "side": 1,
        "size": 1,
        "stopPrice": 20990,
    }
    w.write(
        "GatewayUserOrder", {"action": 0, "data": order}, dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    )
    w.clock(dt.datetime(2026, 3, 2, 0, 1, tzinfo=dt.UTC))
    events = [r.event for r in iter_recording(io.StringIO(out.getvalue()), "w")]
    assert isinstance(events[0], OrderEvent) and events[0].stop_price == Decimal(20990)
    assert isinstance(events[1], ClockEvent)
