"""The fleet benchmark's span windows count what happened in each window, by kind, and
begin again: an hour's p99 can then be told apart from one kind's cost (fleet_spans.py)."""

from __future__ import annotations

from fleet_bench import Histogram
from fleet_spans import Spans


def _span(spans: Spans, kind: str, us: float) -> None:
    spans._open[1] = spans._start(kind)
    spans._close(1, int(us * 1000))


def test_a_window_shows_each_kinds_share_and_its_tail_then_begins_again() -> None:
    spans = Spans(Histogram)
    for _ in range(96):
        _span(spans, "QuoteEvent", 20.0)
    for _ in range(4):
        _span(spans, "TradeEvent", 250.0)

    line = spans.window_line(300.0)

    assert "t=300s: 100 events" in line
    assert "over 100 us 4.00%" in line
    assert "Quote 96.00%/0.00% 20 " in line  # its share, its share over 100 us, its p50
    assert line.endswith("Trade 4.00%/4.00% 258")  # 250 us, in its 5 % bucket
    assert "p99 257.9 us" in line  # the fills set the tail
    _span(spans, "ClockEvent", 10.0)
    later = spans.window_line(600.0)
    assert "t=600s: 1 events" in later and "Trade" not in later
    assert spans.wall["all"].n == 101  # the whole run's figures are kept
