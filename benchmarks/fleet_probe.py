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
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fleet_walk

STALL_MS, TICK_S = 10.0, 0.005
RECENT_S = 10.0  # GCs and scrapes kept this long to charge a stall (stalls are < 10 s)
CAUSES = ("gc", "scrape", "machine", "other")


@dataclass
class Probe:
    """Aggregates as it goes: it runs in the daemon's process, whose RSS the benchmark
    reports, so nothing here grows with the run (a list entry per stall, GC or quote did:
    at 200 accounts ~2,000 pymalloc blocks a minute for the stalls alone)."""

    charged: Counter[str] = field(default_factory=Counter)  # stalls > 10 ms by cause
    worst: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CAUSES, 0.0))
    recent_gcs: deque[tuple[float, float]] = field(default_factory=deque)  # over 2 ms
    recent_scrapes: deque[tuple[float, float]] = field(default_factory=deque)  # (start, end)
    scraping: Counter[float] = field(default_factory=Counter)  # starts of scrapes in flight
    scrape_ms: Counter[float] = field(default_factory=Counter)  # span, 0.1 ms steps
    gc_runs: int = 0
    gc_max_ms: float | None = None
    gen2_ms: list[float] = field(default_factory=list)  # a few an hour
    _gc_start: float = 0.0
    fanouts: Counter[int] = field(default_factory=Counter)  # callbacks one quote made ready
    ahead: Counter[int] = field(default_factory=Counter)  # ready callbacks ahead of a user event
    _unwatch: Any = None

    def install(self) -> None:
        gc.callbacks.append(self._on_gc)
        import rmdsl.dashboard.server as server

        original = server.exposition_sliced

        async def timed(*args: Any) -> bytes:
            t = time.perf_counter()
            self.scraping[t] += 1
            try:
                return await original(*args)
            finally:
                self._scraped(t, time.perf_counter())

        server.exposition_sliced = timed  # type: ignore[assignment]
        self._watch_routes()

    def _scraped(self, start: float, end: float) -> None:
        self.scraping[start] -= 1
        if not self.scraping[start]:
            del self.scraping[start]
        self.recent_scrapes.append((start, end))
        self.scrape_ms[round((end - start) * 1000, 1)] += 1

    def _watch_routes(self) -> None:
        from rmdsl.broker.projectx_routes import Routes
        from rmdsl.contract.events import Event, QuoteEvent

        original, probe = Routes.deliver, self

        def deliver(routes: Routes, event: Event) -> bool:
            ready = asyncio.get_running_loop()._ready  # type: ignore[attr-defined]
            before = len(ready)
            if not isinstance(event, QuoteEvent):
                probe.ahead[before] += 1
                return original(routes, event)
            handed = original(routes, event)
            if handed:
                probe.fanouts[len(ready) - before] += 1
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
            return
        self._collected(self._gc_start, time.perf_counter(), info["generation"])

    def _collected(self, start: float, end: float, generation: int) -> None:
        ms = (end - start) * 1000
        self.gc_runs += 1
        self.gc_max_ms = max(self.gc_max_ms or 0.0, ms)
        if generation == 2:
            self.gen2_ms.append(ms)
        if ms > 2.0:
            self.recent_gcs.append((start, end))

    async def watch(self, until: float) -> None:
        while time.monotonic() < until:
            t, cpu = time.perf_counter(), time.process_time()
            await asyncio.sleep(TICK_S)
            late = (time.perf_counter() - t - TICK_S) * 1000
            if late > STALL_MS:
                self._stall(time.perf_counter(), late, (time.process_time() - cpu) * 1000)

    def _stall(self, end: float, ms: float, used: float) -> None:
        """Charge one stall to what overlapped it (the GCs and scrapes of the last
        RECENT_S, and the scrapes still in flight), then forget what is older."""
        start = end - ms / 1000 - TICK_S
        cause = "other"
        if used < 0.5 * (ms + TICK_S * 1000):
            cause = "machine"  # this process ran less than half the stall: not the loop's
        elif any(a < end and b > start for a, b in self.recent_gcs):
            cause = "gc"
        elif any(a < end and b > start for a, b in self.recent_scrapes) or any(
            a < end for a in self.scraping
        ):
            cause = "scrape"
        self.charged[cause] += 1
        self.worst[cause] = max(self.worst[cause], ms)
        for recent in (self.recent_gcs, self.recent_scrapes):
            while recent and recent[0][1] < end - RECENT_S:
                recent.popleft()

    def figures(self) -> dict[str, Any]:
        scrapes = _spread(self.scrape_ms)
        return {
            "stalls": sum(self.charged.values()),
            "stalls_by_cause": {cause: self.charged[cause] for cause in CAUSES},
            "stall_worst_ms": self.worst,
            "gc_runs": self.gc_runs,
            "gc_gen2": len(self.gen2_ms),
            "gc_gen2_max_ms": max(self.gen2_ms, default=None),
            "gc_max_ms": self.gc_max_ms,
            "scrape_loop_ms": scrapes["p50"] if scrapes else None,
            "scrape_loop_max_ms": scrapes["max"] if scrapes else None,
            "quote_fanout": _spread(self.fanouts),
            "ready_ahead_of_user_event": _spread(self.ahead),
        }


def _spread(counts: Counter[Any]) -> dict[str, Any] | None:
    """p50 / p95 / max and count of values kept as value -> times seen (None when none)."""
    n = sum(counts.values())
    if not n:
        return None
    ordered = sorted(counts.items())

    def at(q: float) -> Any:
        rank, seen = min(int(q * n), n - 1), 0
        for value, times in ordered:
            seen += times
            if seen > rank:
                return value
        return ordered[-1][0]

    return {"n": n, "p50": at(0.5), "p95": at(0.95), "max": ordered[-1][0]}


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


async def memory_lines(
    t0: float, until: float, rss: Callable[[], float], walk_after_s: float | None = None
) -> None:
    """Once a minute on stderr, without tracemalloc: RSS against glibc's arenas; the
    growth of live objects by type between 2 minutes and the end; with `walk_after_s`,
    the containers that grew between that time and the end (fleet_walk.py)."""
    first: Counter[str] | None = None
    walked: fleet_walk.Lengths | None = None
    while time.monotonic() < until - 1:
        await asyncio.sleep(min(60.0, max(until - 1 - time.monotonic(), 0)))
        print(_memory_line(time.monotonic() - t0, rss), file=sys.stderr, flush=True)
        if first is None and time.monotonic() - t0 >= 110:
            first = census()
        if walk_after_s is not None and walked is None and time.monotonic() - t0 >= walk_after_s:
            walked = fleet_walk.lengths()
    if first is not None:
        grown = census()
        grown.subtract(first)
        print("   objects grown since 2 min, by type:", file=sys.stderr)
        for name, count in grown.most_common(20):
            print(f"   {count:+8d} {name}", file=sys.stderr)
    if walked is not None:
        for line in fleet_walk.report(walked, fleet_walk.lengths()):
            print(f"   {line}", file=sys.stderr)
        for line in fleet_walk.survivors("LockoutRecord"):  # the census's +1,175 (r14k)
            print(f"   {line}", file=sys.stderr)


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
