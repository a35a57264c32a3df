"""Alerts to the admin: a Notifier protocol and the log, stderr and collecting implementations.

The engine alerts on enforcement failures, a full queue and metric thresholds
(product decisions Q13, Q16, Q20). A webhook notifier comes later.
"""

from __future__ import annotations

import enum
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO


class AlertSeverity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Notifier(Protocol):
    def alert(
        self, severity: str, title: str, body: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        """Deliver one alert; must not raise and must not block the event loop."""
        ...


_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


def _fields_text(fields: Mapping[str, Any] | None) -> str:
    return " ".join(f"{k}={v}" for k, v in (fields or {}).items())


class LogNotifier:
    """Alerts as log records on `rmdsl.alert` (the daemon's log file handler writes them)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("rmdsl.alert")

    def alert(
        self, severity: str, title: str, body: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        extra = _fields_text(fields)
        self.log.log(_LEVELS.get(severity, logging.CRITICAL), "%s: %s %s", title, body, extra)


class StderrNotifier:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def alert(
        self, severity: str, title: str, body: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        stream = self.stream or sys.stderr
        extra = _fields_text(fields)
        print(f"rmdsl alert [{severity}] {title}: {body} {extra}".rstrip(), file=stream)


@dataclass(frozen=True, slots=True)
class Alert:
    severity: str
    title: str
    body: str
    fields: Mapping[str, Any] = field(default_factory=dict)


class CollectingNotifier:
    """Keeps every alert in `alerts`: for tests, `rmdsl test` and `rmdsl replay`."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def alert(
        self, severity: str, title: str, body: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        self.alerts.append(Alert(severity, title, body, dict(fields or {})))

    def titles(self) -> list[str]:
        return [a.title for a in self.alerts]
