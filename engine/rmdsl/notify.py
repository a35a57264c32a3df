"""Alerts to the admin: a Notifier protocol and the log, stderr and collecting implementations.

The engine alerts on enforcement failures, a full queue and metric thresholds
(docs/decisions.md Q13, Q16, Q20). RateLimitedNotifier keeps one failing cause
(a full disk) from flooding the admin. A webhook notifier comes later.
"""

from __future__ import annotations

import enum
import logging
import sys
import time
from collections.abc import Callable, Mapping
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


RATE_WINDOW_S = 60.0
# the fields that tell two alerts of one title apart: an enforcement failure of another
# account, rule, action or target is news, the same one again within the window is not
KEY_FIELDS = ("account", "rule", "action", "target")
AlertKey = tuple[str, str, tuple[str, ...]]
MAX_KINDS = 1024  # kinds remembered before the ones outside the window are forgotten

rate_log = logging.getLogger("rmdsl.alert.rate")


class RateLimitedNotifier:
    """At most one alert per kind per window; the next one that goes through says how many
    were held back (so does the log).

    A kind is (severity, title, the rule/action/target fields when present), so a flood of
    "state store failure" is one alert a minute while the failed close of another position
    still gets through at once.
    """

    def __init__(
        self,
        inner: Notifier,
        window_s: float = RATE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner, self.window_s, self.clock = inner, window_s, clock
        self._sent: dict[AlertKey, float] = {}  # kind -> when the last one went through
        self._held: dict[AlertKey, int] = {}  # kind -> suppressed since then
        self.suppressed = 0  # in total, for tests and metrics

    def alert(
        self, severity: str, title: str, body: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        key = (severity, title, _distinguishing(title, body, fields or {}))
        now = self.clock()
        last = self._sent.get(key)
        if last is not None and now - last < self.window_s:
            held = self._held.get(key, 0) + 1
            self._held[key] = held
            self.suppressed += 1
            if held == 1:
                rate_log.warning(
                    "alert %r repeats: the same ones are held back for %g s", title, self.window_s
                )
            return
        if len(self._sent) >= MAX_KINDS:
            self._forget(now)
        self._sent[key] = now
        held = self._held.pop(key, 0)
        if held:
            rate_log.warning("alert %r: %d more were held back in the last window", title, held)
            body = f"{body} ({held} more like this held back in the last {self.window_s:g} s)"
            fields = {**(fields or {}), "suppressed": held}
        self.inner.alert(severity, title, body, fields)

    def _forget(self, now: float) -> None:
        """Bound the memory: a kind whose window is over and held nothing back is news again."""
        for key, sent in list(self._sent.items()):
            if now - sent >= self.window_s and not self._held.get(key):
                del self._sent[key]


def _distinguishing(title: str, body: str, fields: Mapping[str, Any]) -> tuple[str, ...]:
    """What makes two alerts of one title different news.

    A ruleset's own `alert` action (title "rule <id>", "[ACCOUNT] rule <id>" in a daemon
    of several accounts) also by its text, which the rule's author wrote per symbol or
    position: only the same message is held back.
    """
    keys = tuple(str(fields.get(k, "")) for k in KEY_FIELDS)
    own = title.removeprefix(f"[{fields['account']}] ") if "account" in fields else title
    return (*keys, body) if own.startswith("rule ") else keys
