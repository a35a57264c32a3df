"""The fleet benchmark's probes: what holds the event loop, and what grows (fleet_bench.py).

- Stalls: a task wakes every 5 ms and records each wake-up more than 10 ms late
  (the loop was held that long); each stall is charged to what overlapped it: a
  garbage collection (gc.callbacks), a /metrics scrape (its whole span in the
  daemon, slices and yields included), or to the machine (the process had
  less than half the stall's CPU time: other processes ran), or to none of them
  ("other": the events themselves, the SDK). A GC is charged only when it ran
  over 2 ms.
- Routing: each quote's fan-out (the loop callbacks one quote makes ready at
  once, and how many follower hand-outs it had) and, for each user-hub event
  (fills, orders, positions), the callbacks already ready ahead of it on the
  loop when it arrives (asyncio's private `_ready` queue: a benchmark's look).
- Growth: tracemalloc snapshots at 2 minutes and at the end, the top growth by
  traceback and by file on stderr, and each minute RSS against the traced total
  and glibc's arenas (mallinfo2) (--tracemalloc: slows every allocation, so the
  latency figures of such a run are not the goals' judge).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STALL_MS, TICK_S = 10.0, 0.005


@dataclass
class Probe:
    # (end s, length ms, CPU ms of this process meanwhile)
    stalls: list[tuple[float, float, float]] = field(default_factory=list)
    gcs: list[tuple[float, float, int]] = field(default_factory=list)  # (start, end, gen)
    scrapes: list[tuple[float, float]] = field(default_factory=list)  # (start, end)
    _gc_start: float = 0.0
    fanouts: list[int] = field(default_factory=list)  # callbacks one quote made ready at once
    ahead: list[int] = field(default_factory=list)  # ready callbacks ahead of a user event
    _unwatch: Any = None

    def install(self) -> None:
        gc.callbacks.append(self._on_gc)
        import rmdsl.dashboard.server as server

        original = server.exposition_sliced

        async def timed(*args: Any) -> bytes:
            t = time.perf_counter()
            try:
                return await original(*args)
            finally:
                self.scrapes.append((t, time.perf_counter()))

        server.exposition_sliced = timed  # type: ignore[assignment]
        self._watch_routes()

    def _watch_routes(self) -> None:
        from rmdsl.broker.projectx_routes import Routes
        from rmdsl.contract.events import Event, QuoteEvent

        original, probe = Routes.deliver, self

        def deliver(routes: Routes, event: Event) -> bool:
            ready = asyncio.get_running_loop()._ready  # type: ignore[attr-defined]
            before = len(ready)
            if not isinstance(event, QuoteEvent):
                probe.ahead.append(before)
                return original(routes, event)
            handed = original(routes, event)
            if handed:
                probe.fanouts.append(len(ready) - before)
            return handed

        Routes.deliver = deliver  # type: ignore[method-assign]
        self._unwatch = lambda: setattr(Routes, "deliver", original)

    def uninstall(self) -> None:
        gc.callbacks.remove(self._on_gc)
        if self._unwatch is not None:
            self._unwatch()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gcs.append((self._gc_start, time.perf_counter(), info["generation"]))

    async def watch(self, until: float) -> None:
        while time.monotonic() < until:
            t, cpu = time.perf_counter(), time.process_time()
            await asyncio.sleep(TICK_S)
            late = (time.perf_counter() - t - TICK_S) * 1000
            if late > STALL_MS:
                used = (time.process_time() - cpu) * 1000
                self.stalls.append((time.perf_counter(), late, used))

    def figures(self) -> dict[str, Any]:
        charged = {"gc": 0, "scrape": 0, "machine": 0, "other": 0}
        worst: dict[str, float] = dict.fromkeys(charged, 0.0)
        for end, ms, used in self.stalls:
            start = end - ms / 1000 - TICK_S
            cause = "other"
            if used < 0.5 * (ms + TICK_S * 1000):
                cause = "machine"  # this process ran less than half the stall: not the loop's
            elif any(a < end and b - a > 0.002 and b > start for a, b, _ in self.gcs):
                cause = "gc"
            elif any(a < end and b > start for a, b in self.scrapes):
                cause = "scrape"
            charged[cause] += 1
            worst[cause] = max(worst[cause], ms)
        gen2 = [(b - a) * 1000 for a, b, g in self.gcs if g == 2]
        scrape_ms = sorted((b - a) * 1000 for a, b in self.scrapes)
        return {
            "stalls": len(self.stalls),
            "stalls_by_cause": charged,
            "stall_worst_ms": worst,
            "gc_runs": len(self.gcs),
            "gc_gen2": len(gen2),
            "gc_gen2_max_ms": max(gen2, default=None),
            "gc_max_ms": max(((b - a) * 1000 for a, b, _ in self.gcs), default=None),
            "scrape_loop_ms": scrape_ms[len(scrape_ms) // 2] if scrape_ms else None,
            "scrape_loop_max_ms": scrape_ms[-1] if scrape_ms else None,
            "quote_fanout": _spread(self.fanouts),
            "ready_ahead_of_user_event": _spread(self.ahead),
        }


def _spread(values: list[int]) -> dict[str, float] | None:
    """p50 / p95 / max and count of a list of counts (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    at = lambda q: ordered[min(int(q * len(ordered)), len(ordered) - 1)]  # noqa: E731
    return {"n": len(ordered), "p50": at(0.5), "p95": at(0.95), "max": ordered[-1]}


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def malloc_mb() -> dict[str, float] | None:
    """glibc's own view of the heap: in use vs free inside the arenas, and mmapped blocks.

    RSS that tracemalloc does not see is either free memory malloc keeps (fragmentation,
    `free`) or memory outside Python's allocator (SQLite's page cache, the SDK's C parts).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
    except (OSError, AttributeError):
        return None
    m = libc.mallinfo2()
    mb = 1_048_576
    return {"arena": m.arena / mb, "used": m.uordblks / mb, "free": m.fordblks / mb,
            "mmap": m.hblkhd / mb}  # fmt: skip


def _memory_line(elapsed_s: float, rss: Callable[[], float]) -> str:
    line = f"   mem t={elapsed_s:.0f}s rss={rss():.1f}"
    if tracemalloc.is_tracing():
        line += f" traced={tracemalloc.get_traced_memory()[0] / 1_048_576:.1f}"
    malloc = malloc_mb()
    if malloc is not None:
        line += " " + " ".join(f"malloc_{k}={v:.1f}" for k, v in malloc.items())
    return line + f" blocks={sys.getallocatedblocks()}"


def census() -> Counter[str]:
    """Live objects the collector tracks, by type: what a run accumulates, without
    tracemalloc's cost on every allocation (numbers and strings are not tracked)."""
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


async def memory_lines(t0: float, until: float, rss: Callable[[], float]) -> None:
    """Once a minute on stderr, without tracemalloc: RSS against glibc's arenas; the
    growth of live objects by type between 2 minutes and the end."""
    first: Counter[str] | None = None
    while time.monotonic() < until - 1:
        await asyncio.sleep(min(60.0, max(until - 1 - time.monotonic(), 0)))
        print(_memory_line(time.monotonic() - t0, rss), file=sys.stderr, flush=True)
        if first is None and time.monotonic() - t0 >= 110:
            first = census()
    if first is not None:
        grown = census()
        grown.subtract(first)
        print("   objects grown since 2 min, by type:", file=sys.stderr)
        for name, count in grown.most_common(20):
            print(f"   {count:+8d} {name}", file=sys.stderr)


async def grow(t0: float, until: float, frames: int, rss: Callable[[], float]) -> None:
    """Traced from the start; snapshots at 2 minutes and at `until`, the top growth by
    traceback and by file on stderr, and once a minute RSS against what tracemalloc and
    malloc account for (what grows outside the Python heap shows as their gap)."""
    tracemalloc.start(frames)
    first_at = t0 + max(min(120.0, until - t0 - 60), 0)
    first: tracemalloc.Snapshot | None = None
    t1 = time.monotonic()
    while time.monotonic() < until - 1:
        await asyncio.sleep(min(60.0, max(until - 1 - time.monotonic(), 0)))
        print(_memory_line(time.monotonic() - t0, rss), file=sys.stderr, flush=True)
        if first is None and time.monotonic() >= first_at:
            first, t1 = tracemalloc.take_snapshot(), time.monotonic()
    last = tracemalloc.take_snapshot()
    if first is None:
        first = last
    minutes = (time.monotonic() - t1) / 60
    for key, top in (("traceback", 15), ("filename", 15)):
        print(f"   tracemalloc: growth over {minutes:.1f} min, top {top} by {key}",
              file=sys.stderr)  # fmt: skip
        for stat in last.compare_to(first, key)[:top]:
            print(f"   {stat.size_diff / 1024:+.1f} KB in {stat.count_diff:+d} blocks",
                  file=sys.stderr)  # fmt: skip
            for line in stat.traceback.format()[-2 * frames :]:
                print(f"      {line}", file=sys.stderr)
    tracemalloc.stop()
