"""Event recordings: JSON Lines of gateway messages -> engine events (docs/events.md).

One object per line: {"ts": ISO-8601, "target": SignalR target, "data": payload as the hub
sent it} or {"ts": ..., "clock": true}. Every error is located: `file:line: message`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rmdsl.broker.decode.fields import PayloadError, parse_ts
from rmdsl.broker.decode.gateway import MARKET_TARGETS, USER_TARGETS, event_from_gateway
from rmdsl.broker.decode.partial import GatewayDecoder
from rmdsl.contract.events import ClockEvent, Event
from rmdsl.errors import RmdslError

TARGETS = USER_TARGETS + MARKET_TARGETS


class RecordingError(RmdslError):
    """A recording line that cannot be read: carries its location."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


@dataclass(frozen=True, slots=True)
class Recorded:
    line: int
    received: dt.datetime  # the line's ts: when the message was received
    target: str  # the SignalR target, or "clock"
    event: Event


def parse_line(
    obj: Any, fallback_ts: dt.datetime | None = None, decoder: GatewayDecoder | None = None
) -> tuple[dt.datetime, str, Event]:
    """One decoded line -> (received ts, target, event); PayloadError explains a bad one.

    With a decoder, a partial update is completed from the earlier lines as the live
    adapter completes it (docs/broker.md "Partial and odd payloads")."""
    if not isinstance(obj, Mapping):
        raise PayloadError(f"a line must be a JSON object, got {type(obj).__name__}")
    unknown = set(obj) - {"ts", "target", "data", "clock"}
    if unknown:
        raise PayloadError(f"unknown key {sorted(unknown)[0]!r} (expected ts, target, data, clock)")
    if "ts" not in obj:
        raise PayloadError("missing 'ts'")
    ts = parse_ts(obj["ts"])
    if obj.get("clock") is True:
        if "target" in obj or "data" in obj:
            raise PayloadError("a clock line has only 'ts' and 'clock'")
        return ts, "clock", ClockEvent(ts)
    target = obj.get("target")
    if target not in TARGETS:
        raise PayloadError(f"'target' must be one of {', '.join(TARGETS)}, got {target!r}")
    if "data" not in obj:
        raise PayloadError("missing 'data'")
    decode = decoder.decode if decoder is not None else event_from_gateway
    return ts, str(target), decode(str(target), obj["data"], ts)


def iter_recording(stream: IO[str], path: str) -> Iterator[Recorded]:
    """Decode a recording lazily; blank lines and lines starting with '#' are skipped."""
    decoder = GatewayDecoder()
    for lineno, raw in enumerate(stream, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordingError(
                path, lineno, f"invalid JSON: {exc.msg} (column {exc.colno})"
            ) from None
        try:
            ts, target, event = parse_line(obj, decoder=decoder)
        except PayloadError as exc:
            raise RecordingError(path, lineno, str(exc)) from None
        yield Recorded(lineno, ts, target, event)


def read_recording(path: str | Path) -> list[Recorded]:
    """The whole file; OSError when it cannot be read, RecordingError for a bad line.

    A device or FIFO is refused before it is opened (`/dev/zero` would never end).
    """
    from rmdsl.source import require_regular_file

    require_regular_file(path)
    with open(path, encoding="utf-8") as f:
        return list(iter_recording(f, str(path)))


class RecordingWriter:
    """Append gateway messages as recording lines (the daemon's --record option)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, target: str, data: Any, ts: dt.datetime | None = None) -> None:
        at = (ts or dt.datetime.now(dt.UTC)).isoformat()
        line = {"ts": at, "target": target, "data": data}
        self.stream.write(json.dumps(line, separators=(",", ":"), default=str) + "\n")

    def clock(self, ts: dt.datetime) -> None:
        self.stream.write(json.dumps({"ts": ts.isoformat(), "clock": True}) + "\n")
