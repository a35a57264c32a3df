"""Notifiers: log records, stderr lines, collected alerts."""

from __future__ import annotations

import io
import logging

import pytest

from rmdsl.notify import CollectingNotifier, LogNotifier, Notifier, StderrNotifier


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
