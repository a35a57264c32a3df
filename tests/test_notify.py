"""Notifiers: log records, stderr lines, collected alerts."""

from __future__ import annotations

import io
import logging

import pytest

from rmdsl.notify import (
    CollectingNotifier,
    LogNotifier,
    Notifier,
    RateLimitedNotifier,
    StderrNotifier,
)


def test_log_notifier_logs_at_the_severity(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="rmdsl.alert"):
        LogNotifier().alert("critical", "enforcement failed", "close rejected", {"rule": "r"})
        LogNotifier().alert("info", "rule x", "hello")
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.CRITICAL, logging.INFO]
    assert "enforcement failed: close rejected rule=r" in caplog.records[0].getMessage()


def test_stderr_notifier_writes_one_line() -> None:
    out = io.StringIO()
    StderrNotifier(out).alert("warning", "metric queue_depth", "depth 1001", {"metric": "q"})
    assert out.getvalue() == "rmdsl alert [warning] metric queue_depth: depth 1001 metric=q\n"


def test_collecting_notifier_is_a_notifier() -> None:
    n: Notifier = CollectingNotifier()
    n.alert("info", "t", "b")
    assert isinstance(n, CollectingNotifier) and n.titles() == ["t"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_kind_of_alert_goes_out_once_per_window_with_the_held_back_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression: with the disk full, 1,059 "state store failure" alerts in 20 s."""
    inner, clock = CollectingNotifier(), Clock()
    limited = RateLimitedNotifier(inner, window_s=60, clock=clock)
    with caplog.at_level(logging.WARNING, logger="rmdsl.alert.rate"):
        for _ in range(1059):
            limited.alert("critical", "state store failure", "disk full", {})
            clock.now += 0.02
        assert inner.titles() == ["state store failure"] and limited.suppressed == 1058
        clock.now += 60
        limited.alert("critical", "state store failure", "disk full", {})
    assert len(inner.alerts) == 2
    last = inner.alerts[-1]
    assert "(1058 more like this held back in the last 60 s)" in last.body
    assert last.fields["suppressed"] == 1058
    logged = [r.getMessage() for r in caplog.records]
    assert any("held back for 60 s" in m for m in logged)
    assert any("1058 more were held back" in m for m in logged)


def test_enforcement_failures_of_other_rules_or_targets_still_go_out() -> None:
    inner, clock = CollectingNotifier(), Clock()
    limited = RateLimitedNotifier(inner, window_s=60, clock=clock)

    def failed(rule: str, target: str) -> None:
        fields = {"rule": rule, "action": "close_position", "target": target}
        limited.alert("critical", "enforcement failed", f"{rule} {target}", fields)

    failed("no_stop", "MNQ")
    failed("no_stop", "MNQ")  # the same failure again: held back
    failed("no_stop", "MES")
    failed("daily_loss", "MNQ")
    limited.alert("warning", "enforcement failed", "other severity", {})
    assert [a.body for a in inner.alerts] == [
        "no_stop MNQ",
        "no_stop MES",
        "daily_loss MNQ",
        "other severity",
    ]


def test_a_zero_window_sends_every_alert() -> None:
    inner = CollectingNotifier()
    limited = RateLimitedNotifier(inner, window_s=0, clock=Clock())
    for _ in range(3):
        limited.alert("critical", "t", "b")
    assert len(inner.alerts) == 3 and limited.suppressed == 0


def test_a_rules_own_alerts_are_held_back_only_when_their_text_repeats() -> None:
    inner = CollectingNotifier()
    limited = RateLimitedNotifier(inner, window_s=60, clock=Clock())
    for body in ("MNQ over 2 contracts", "MES over 2 contracts", "MNQ over 2 contracts"):
        limited.alert("warning", "rule max_contracts", body, {"contracts": "3"})
    assert [a.body for a in inner.alerts] == ["MNQ over 2 contracts", "MES over 2 contracts"]
