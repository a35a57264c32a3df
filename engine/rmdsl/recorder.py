"""`rmdsl run --record FILE.jsonl`: the session's gateway payloads, one file per trading day.

The live feed hands each message of the account to `SessionRecorder.put`, which only
appends to a buffer: recording never blocks or delays enforcement. A background task
writes the buffer every `flush_s` in a worker thread. A line goes to the file of its
trading day on the ruleset's calendar, `FILE-YYYY-MM-DD.jsonl` (docs/operations.md,
"Rehearse"), so a day is one file `rmdsl replay` and `rmdsl test` read as is. A write
failure is logged and alerted once; the lines of that flush are dropped and the daemon
carries on (a later flush tries again).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rmdsl.lifecycle import Service
from rmdsl.notify import Notifier

log = logging.getLogger("rmdsl.recorder")
FLUSH_S = 0.5
MAX_BUFFER = 100_000  # lines held while writes fail; beyond it the oldest are dropped


def day_path(base: Path, day: dt.date) -> Path:
    """FILE.jsonl + 2026-11-30 -> FILE-2026-11-30.jsonl (the suffix kept, .jsonl if none)."""
    suffix = base.suffix or ".jsonl"
    return base.with_name(f"{base.stem}-{day.isoformat()}{suffix}")


def recording_line(target: str, data: Any, ts: dt.datetime) -> str:
    """One line of docs/events.md: {"ts", "target", "data"}; tuples become lists."""
    return json.dumps({"ts": ts.isoformat(), "target": target, "data": data}, default=str)


class SessionRecorder(Service):
    """Buffers (target, payload) lines and writes them to per-trading-day files."""

    def __init__(
        self,
        base: Path,
        trading_day: Callable[[dt.datetime], dt.date],
        notifier: Notifier | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        flush_s: float = FLUSH_S,
    ) -> None:
        self.base = base
        self._trading_day = trading_day
        self._notifier = notifier
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._flush_s = flush_s
        self._buffer: list[tuple[dt.date, str]] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.written = 0
        self.failed = False  # alerted once; logged at every failing flush
        self.paths: list[Path] = []  # every file written to, in order

    def put(self, target: str, data: Any) -> None:
        """Called from the feed's callbacks: never raises, never waits."""
        try:
            ts = self._clock()
            self._buffer.append((self._trading_day(ts), recording_line(target, data, ts)))
            if len(self._buffer) > MAX_BUFFER:
                del self._buffer[: len(self._buffer) - MAX_BUFFER]
        except Exception:  # a payload json cannot encode: log it, never stop the feed
            log.exception("recording: could not encode a %s message", target)

    async def start(self) -> None:
        self.base.parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._run(), name="rmdsl-recorder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            await self.flush()

    async def flush(self) -> None:
        """Write what is buffered, in a worker thread; a failure is reported, never raised."""
        async with self._lock:
            lines, self._buffer = self._buffer, []
            if not lines:
                return
            try:
                await asyncio.to_thread(self._write, lines)
            except OSError as exc:
                self._failed(exc, len(lines))
                return
            self.written += len(lines)

    def _write(self, lines: list[tuple[dt.date, str]]) -> None:
        by_day: dict[dt.date, list[str]] = {}
        for day, line in lines:
            by_day.setdefault(day, []).append(line)
        for day, day_lines in by_day.items():
            path = day_path(self.base, day)
            with path.open("a", encoding="utf-8") as fh:
                fh.write("\n".join(day_lines) + "\n")
            if path not in self.paths:
                self.paths.append(path)
                log.info("recording the trading day %s to %s", day, path)

    def _failed(self, exc: OSError, count: int) -> None:
        log.error("recording: %d line(s) lost, cannot write under %s: %s", count, self.base, exc)
        if self.failed:
            return
        self.failed = True
        if self._notifier is not None:
            self._notifier.alert(
                "warning",
                "recording failed",
                f"cannot write the session recording ({exc}); enforcement carries on",
                {"path": str(self.base)},
            )
