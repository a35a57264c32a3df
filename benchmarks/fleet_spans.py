"""What is inside one engine step's measured span (fleet_bench.py --spans): the tail's causes.

`event_processing_ms` is wall time from the start of `Stepper.event` to its
`metrics.event_processed` call. In a daemon of many accounts a long span can be
the engine's own work, or time the engine did not run: another task run inside
the span (an await that yielded), a garbage collection, the thread descheduled
by the kernel (other processes ran: an involuntary context switch) or waiting
(a voluntary one: the GIL taken by another thread, e.g. aiosqlite's writer).
This probe records, per span, the event's kind, the span's wall and thread-CPU
time, the loop callbacks run inside it (asyncio Handle._run: none unless it
yielded), the collections inside it and the thread's context switches
(getrusage(RUSAGE_THREAD)), and prints the tail broken down by those causes.
It costs two getrusage calls and a clock read per event, outside the span.

Over a long run the mix of events changes (accounts paused for the session hold no
position, so fewer quotes reach them), and the p99 of all events moves with it: `windows`
prints, every few minutes, the window's events by kind, its p99 and which kinds were over
100 us, so that the tail of an hour can be told apart from the cost of one kind.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import sys
import time
from collections import Counter
from typing import Any

TAIL_US = 100.0  # the goal: a span over it is in the tail


class Spans:
    def __init__(self, histogram: Any) -> None:
        self.make = histogram  # () -> a histogram with add/quantile/n/max (fleet_bench)
        self.wall: dict[str, Any] = {}
        self.cpu: dict[str, Any] = {}
        self.tail: Counter[str] = Counter()  # cause -> spans over TAIL_US
        self.tail_kinds: Counter[str] = Counter()
        self.window: dict[str, Any] = {}  # the current window's spans, as `wall`
        self.window_tail: Counter[str] = Counter()
        self.handles = 0  # loop callbacks run so far
        self.gcs = 0  # collections started so far
        self._open: dict[int, tuple[str, int, int, int, int, int]] = {}
        self._undo: list[Any] = []

    def install(self, metrics_objects: list[Any]) -> None:
        from rmdsl.engine.step import Stepper

        spans = self
        run, event = asyncio.events.Handle._run, Stepper.event

        def counted(handle: Any) -> None:
            spans.handles += 1
            run(handle)

        async def opened(stepper: Any, ev: Any, wait: bool) -> Any:
            spans._open[id(stepper.metrics)] = spans._start(type(ev).__name__)
            return await event(stepper, ev, wait)

        asyncio.events.Handle._run = counted  # type: ignore[method-assign]
        Stepper.event = opened  # type: ignore[method-assign]
        gc.callbacks.append(self._on_gc)
        for metrics in metrics_objects:
            self._tap(metrics)
        self._undo = [run, event]

    def uninstall(self) -> None:
        from rmdsl.engine.step import Stepper

        if self._undo:
            asyncio.events.Handle._run, Stepper.event = self._undo  # type: ignore[method-assign]
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.gcs += 1

    def _start(self, kind: str) -> tuple[str, int, int, int, int, int]:
        ru = resource.getrusage(resource.RUSAGE_THREAD)
        cpu = time.thread_time_ns()
        return (kind, self.handles, self.gcs, ru.ru_nvcsw, ru.ru_nivcsw, cpu)

    def _tap(self, metrics: Any) -> None:
        original, spans = metrics.event_processed, self

        def tapped(elapsed_ns: int) -> None:
            spans._close(id(metrics), elapsed_ns)
            original(elapsed_ns)

        metrics.event_processed = tapped

    def _close(self, key: int, elapsed_ns: int) -> None:
        cpu_end = time.thread_time_ns()
        ru = resource.getrusage(resource.RUSAGE_THREAD)
        opened = self._open.pop(key, None)
        if opened is None:
            return
        kind, handles, gcs, vcsw, ivcsw, cpu = opened
        wall_us, cpu_us = elapsed_ns / 1e3, (cpu_end - cpu) / 1e3
        self._add(self.wall, kind, wall_us)
        self._add(self.cpu, kind, cpu_us)
        self._add(self.window, kind, wall_us)
        if wall_us <= TAIL_US:
            return
        self.tail_kinds[kind] += 1
        self.window_tail[kind] += 1
        if self.handles != handles:
            self.tail["yielded (another callback ran inside)"] += 1
        elif self.gcs != gcs:
            self.tail["a collection inside"] += 1
        elif ru.ru_nivcsw != ivcsw:
            self.tail["preempted (involuntary switch)"] += 1
        elif ru.ru_nvcsw != vcsw:
            self.tail["waited (voluntary switch: GIL, I/O)"] += 1
        elif cpu_us > TAIL_US:
            self.tail["its own CPU over 100 us"] += 1
        else:
            self.tail["none of these"] += 1

    def _add(self, table: dict[str, Any], kind: str, us: float) -> None:
        for key in (kind, "all"):
            if key not in table:
                table[key] = self.make()
            table[key].add(us)

    def window_line(self, t: float) -> str:
        """The window since the last line: events, p99, each kind's share of the events and
        of the spans over 100 us, and its p50 (a kind grown dearer shows apart from a kind
        grown commoner); the window is then begun again."""
        window, tail = self.window, self.window_tail
        w = window.get("all") or self.make()
        n = max(w.n, 1)
        kinds = sorted((k for k in window if k != "all"), key=lambda k: -window[k].n)
        shares = " ".join(
            f"{_short(k)} {100 * window[k].n / n:.2f}%/{100 * tail[k] / n:.2f}%"
            f" {window[k].quantile(0.5):.0f}"
            for k in kinds
        )
        line = (
            f"   spans t={t:.0f}s: {w.n} events, p99 {w.quantile(0.99):.1f} us, over"
            f" {TAIL_US:g} us {100 * sum(tail.values()) / n:.2f}%"
            f" | kind events%/over% p50us: {shares}"
        )
        self.window, self.window_tail = {}, Counter()
        return line

    async def windows(self, t0: float, until: float, every_s: float) -> None:
        """A window_line on stderr every `every_s` seconds until `until` (monotonic)."""
        while time.monotonic() < until - 1:
            await asyncio.sleep(min(every_s, max(until - 1 - time.monotonic(), 0)))
            print(self.window_line(time.monotonic() - t0), file=sys.stderr, flush=True)

    def print(self) -> None:
        out = sys.stderr
        print("   spans by kind: wall p50/p99/max | thread CPU p50/p99 us (events)", file=out)
        for kind in sorted(self.wall, key=lambda k: -self.wall[k].n):
            w, c = self.wall[kind], self.cpu[kind]
            print(
                f"     {kind:<16} {w.quantile(0.5):7.1f} / {w.quantile(0.99):7.1f} /"
                f" {w.max:9.1f} | {c.quantile(0.5):7.1f} / {c.quantile(0.99):7.1f} ({w.n})",
                file=out,
            )
        total = sum(self.tail.values())
        print(f"   spans over {TAIL_US:g} us: {total}, by kind {dict(self.tail_kinds)}", file=out)
        for cause, count in self.tail.most_common():
            print(f"     {cause}: {count}", file=out)


def _short(kind: str) -> str:
    """QuoteEvent -> Quote: the window lines stay on one line."""
    return kind.removesuffix("Event")
