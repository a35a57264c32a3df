"""Many accounts in one daemon: per-event cost, a close under load, memory and start-up.

For each N of --accounts (default 1 and 10; the recorded run: 1,10,200), one run
in a fresh process: the simulated gateway serves N accounts under one login in a
child process (benchmarks/fleet_gateway.py: quotes on four contracts every
100 ms, N-1 accounts each entering 1 protected MNQ or exiting every
--trade-every seconds, the measured account a breaking 3-lot MNQ entry every 2 s),
and this process runs one daemon over the N accounts, each with the shipped
catalogue ruleset (rulesets/topstep.yaml), through the real SDK. It measures:

- start-up: login, connect and reconcile of every account (until all enforce);
- per event: the engines' own event_processing_ms, every event of the run;
- breaking fill -> close request at the gateway, on the measured account;
- RSS of this process every 5 s (the gateway is not in it), and its slope;
- /metrics scraped every 15 s (as Prometheus would): what one scrape costs.

Goals: per event p99 <= 100 us, close p95 <= 20 ms and max <= 100 ms, RSS <= 150 MB
and flat, start <= 10 s. The last run's figures are the goals' judge; the table
shows how they grow with N. The recorded runs use --trade-every 400 (9 fills an hour
a trader, inside the catalogue's limits: quotes and fills flow on every account); with
the default 60 every busy account is paused from ~10 minutes on and the run measures a
policed fleet, the stress case (docs/decisions.md D19).

Usage: python benchmarks/fleet_bench.py [--accounts 1,10,200] [--minutes 1]
           [--long-minutes 25] [--trade-every 60] [--no-rate-limits] [--walk S]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet_gateway
from fleet_daemon import start_fleet
from fleet_probe import Probe, grow, memory_lines
from fleet_spans import Spans

P99_GOAL_US, P95_GOAL_MS, MAX_GOAL_MS, RSS_GOAL_MB, START_GOAL_S = 100.0, 20.0, 100.0, 150.0, 10.0
FLAT_MB_PER_MIN = 0.1  # "flat": under 6 MB an hour
GOAL_MISSED = 3
RSS_EVERY_S, SCRAPE_EVERY_S = 5.0, 15.0
SPAN_WINDOW_S = 300.0  # --spans: a line per 5 minutes (fleet_spans.Spans.windows)


class Histogram:
    """Every sample of a run in log buckets (5 % wide): percentiles without keeping them."""

    def __init__(self, low: float = 0.1, high: float = 1e6, ratio: float = 1.05) -> None:
        n = math.ceil(math.log(high / low) / math.log(ratio))
        self.edges = [low * ratio**i for i in range(n + 1)]
        self.counts = [0] * (n + 2)
        self.n, self.max = 0, 0.0

    def add(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.edges, value)] += 1
        self.n += 1
        self.max = max(self.max, value)

    def quantile(self, q: float) -> float:
        rank, seen = math.ceil(q * self.n), 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank and c:
                return self.edges[min(i, len(self.edges) - 1)]
        return self.max


def watch_events(metrics_objects: list[Any], hist: Histogram) -> None:
    """Every event_processed of the engines also lands in `hist` (microseconds)."""
    for metrics in metrics_objects:
        original = metrics.event_processed

        def tapped(elapsed_ns: int, original: Any = original) -> None:
            hist.add(elapsed_ns / 1e3)
            original(elapsed_ns)

        metrics.event_processed = tapped


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def slope_per_min(samples: list[tuple[float, float]]) -> float:
    if len(samples) < 3:
        return 0.0
    xs, ys = [t for t, _ in samples], [m for _, m in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in samples) / den * 60


async def sample_memory(until: float, t0: float, out: list[tuple[float, float]]) -> None:
    while time.monotonic() < until:
        out.append((time.monotonic() - t0, rss_mb()))
        await asyncio.sleep(RSS_EVERY_S)


async def scrape(url: str, until: float, out: list[float]) -> None:
    """What Prometheus does: GET /metrics every 15 s; the time each answer took."""
    import httpx

    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() < until:
            await asyncio.sleep(SCRAPE_EVERY_S)
            t = time.perf_counter()
            (await client.get(url)).raise_for_status()
            out.append((time.perf_counter() - t) * 1000)


async def one_run(args: argparse.Namespace, n: int, tmp: Path) -> dict[str, Any]:
    """N accounts: the gateway in a child process, the daemon here."""
    from rmdsl.demo.sim import session_start
    from rmdsl.pipeline import load_ruleset

    ruleset = Path(__file__).resolve().parents[1] / "rulesets" / "topstep.yaml"
    plan = fleet_gateway.Plan(
        accounts=n,
        start=session_start(load_ruleset(ruleset)),
        anchor=time.monotonic(),
        seconds=args.minutes * 60,
        trade_every_s=args.trade_every,
        rate_limits=not args.no_rate_limits,
    )
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    child = ctx.Process(target=fleet_gateway.main, args=(there, plan), daemon=True)
    child.start()
    try:
        urls = await asyncio.to_thread(here.recv)
        return await _measure(args, n, plan, urls, ruleset, tmp, here)
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()


async def _measure(
    args: argparse.Namespace,
    n: int,
    plan: fleet_gateway.Plan,
    urls: dict[str, str],
    ruleset: Path,
    tmp: Path,
    conn: Any,
) -> dict[str, Any]:
    rss_before = rss_mb()
    started = time.monotonic()
    fleet = await start_fleet(
        urls, [fleet_gateway.NAME.format(i) for i in range(n)], ruleset, tmp, plan
    )
    start_s = time.monotonic() - started
    try:
        hist = Histogram()
        watch_events(fleet.metrics_objects(), hist)
        spans = Spans(Histogram) if args.spans else None
        if spans is not None:
            spans.install(fleet.metrics_objects())
        memory: list[tuple[float, float]] = []
        scrapes: list[float] = []
        conn.send("go")
        t0 = time.monotonic()
        until = t0 + plan.seconds
        probe = Probe()
        probe.install()
        tasks = [sample_memory(until, t0, memory), probe.watch(until)]
        tasks += [] if args.no_scrape else [scrape(fleet.metrics_url, until, scrapes)]
        tasks += [] if spans is None else [spans.windows(t0, until, SPAN_WINDOW_S)]
        watch = grow(t0, until, args.tracemalloc, rss_mb) if args.tracemalloc else None
        tasks.append(watch or memory_lines(t0, until, rss_mb, args.walk))
        running = asyncio.gather(*tasks)
        result: fleet_gateway.Result = await asyncio.to_thread(conn.recv)
        await running
        probe.uninstall()
        if spans is not None:
            spans.uninstall()
            spans.print()
        print(f"   timers: {_timer_entries(fleet)}", file=sys.stderr, flush=True)
    finally:
        await fleet.stop()
        conn.send("stop")
    figures = _figures(n, plan, start_s, rss_before, hist, memory, scrapes, result)
    return figures | probe.figures() | {"policed_s": fleet.policed_s}


def _timer_entries(fleet: Any) -> str:
    """The engines' timer heaps against their running timers (cancelled ones stay in a
    heap until it is compacted): what the accounts hold for timers at the end."""
    engines = [s.engine for s in fleet.daemon.accounts.values() if s.engine is not None]
    heap = sum(len(e.evaluator.timers._heap) for e in engines)
    running = sum(len(e.evaluator.timers) for e in engines)
    return f"{heap} heap entries for {running} running, {len(engines)} engines"


def _figures(
    n: int,
    plan: fleet_gateway.Plan,
    start_s: float,
    rss_before: float,
    hist: Histogram,
    memory: list[tuple[float, float]],
    scrapes: list[float],
    result: fleet_gateway.Result,
) -> dict[str, Any]:
    lat = sorted(result.latencies_ms)
    second_half = memory[len(memory) // 2 :]
    return {
        "accounts": n,
        "minutes": plan.seconds / 60,
        "start_s": start_s,
        "events": hist.n,
        "event_p50_us": hist.quantile(0.5),
        "event_p99_us": hist.quantile(0.99),
        "event_max_us": hist.max,
        "closes": len(lat),
        "missed": result.missed,
        "close_p50_ms": lat[len(lat) // 2] if lat else None,
        "close_p95_ms": lat[max(math.ceil(0.95 * len(lat)) - 1, 0)] if lat else None,
        "close_max_ms": lat[-1] if lat else None,
        "fills": result.fills,
        "quotes": result.quotes,
        "rss_idle_mb": rss_before,
        "rss_start_mb": memory[0][1] if memory else None,
        "rss_end_mb": memory[-1][1] if memory else None,
        "rss_peak_mb": max((m for _, m in memory), default=None),
        "rss_slope_mb_min": slope_per_min(second_half),
        "scrape_p50_ms": statistics.median(scrapes) if scrapes else None,
        "scrape_max_ms": max(scrapes) if scrapes else None,
        "rss_series": [(round(t), round(m, 1)) for t, m in memory[:: max(len(memory) // 40, 1)]],
    }


def run_child(args: argparse.Namespace) -> int:
    """`--run N`: one run in this process, its figures as one JSON line on stdout."""
    import logging

    from rmdsl.commands.run import load_sdk_quietly

    logging.basicConfig(level=logging.ERROR)
    load_sdk_quietly()
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(one_run(args, args.run, Path(tmp)))
    print(json.dumps(figures), flush=True)
    return 0


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(runs: list[dict[str, Any]]) -> None:
    print(
        "  accounts  minutes  start s  events  per event p50/p99 us  close p50/p95/max ms"
        "  RSS idle/start/end/peak MB  slope MB/min  scrape ms"
    )
    for r in runs:
        print(
            f"  {r['accounts']:>8}  {r['minutes']:>7.1f}  {r['start_s']:>7.2f}  {r['events']:>6}"
            f"  {_fmt(r['event_p50_us'], '.1f'):>9}/{_fmt(r['event_p99_us'], '.1f'):<11}"
            f"  {_fmt(r['close_p50_ms'], '.1f')}/{_fmt(r['close_p95_ms'], '.1f')}/"
            f"{_fmt(r['close_max_ms'], '.1f')} ({r['closes']}, {r['missed']} missed)"
            f"  {r['rss_idle_mb']:.0f}/{_fmt(r['rss_start_mb'], '.0f')}/"
            f"{_fmt(r['rss_end_mb'], '.0f')}/{_fmt(r['rss_peak_mb'], '.0f')}"
            f"  {r['rss_slope_mb_min']:+.3f}  {_fmt(r['scrape_p50_ms'], '.1f')}"
            f"/{_fmt(r['scrape_max_ms'], '.1f')}"
        )


def _loop_line(r: dict[str, Any]) -> str:
    return (
        f"{r['stalls']} stalls > 10 ms by cause {r['stalls_by_cause']}, worst"
        f" {r['stall_worst_ms']}; gc {r['gc_runs']} runs, max {_fmt(r['gc_max_ms'], '.1f')} ms,"
        f" gen2 {r['gc_gen2']} (max {_fmt(r['gc_gen2_max_ms'], '.1f')} ms); scrape on the loop"
        f" p50/max {_fmt(r['scrape_loop_ms'], '.1f')}/{_fmt(r['scrape_loop_max_ms'], '.1f')} ms;"
        f" a quote makes ready {r['quote_fanout']}; ready ahead of a user event"
        f" {r['ready_ahead_of_user_event']}"
    )


def judge(r: dict[str, Any]) -> bool:
    checks = [
        ("per event p99", r["event_p99_us"], P99_GOAL_US, "us"),
        ("close p95", r["close_p95_ms"], P95_GOAL_MS, "ms"),
        ("close max", r["close_max_ms"], MAX_GOAL_MS, "ms"),
        ("RSS peak", r["rss_peak_mb"], RSS_GOAL_MB, "MB"),
        ("start-up", r["start_s"], START_GOAL_S, "s"),
    ]
    ok = r["missed"] == 0
    for label, value, goal, unit in checks:
        met = value is not None and value <= goal
        ok = ok and met
        verdict = "met" if met else "MISSED"
        print(f"  {label} {_fmt(value, '.2f')} {unit} (goal <= {goal:g}): {verdict}")
    flat = r["rss_slope_mb_min"] <= FLAT_MB_PER_MIN
    print(f"  RSS slope {r['rss_slope_mb_min']:+.3f} MB/min (flat: <= {FLAT_MB_PER_MIN}): "
          f"{'met' if flat else 'MISSED'}")  # fmt: skip
    return ok and flat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="1,10", help="comma-separated N (default 1,10)")
    parser.add_argument("--minutes", type=float, default=0.25, help="each run (default 0.25)")
    parser.add_argument("--long-minutes", type=float, help="the largest N's run instead")
    parser.add_argument("--trade-every", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--no-rate-limits", action="store_true", help="gateway budget off")
    parser.add_argument("--no-scrape", action="store_true", help="no /metrics scraper")
    parser.add_argument("--tracemalloc", type=int, default=0, help="frames: growth on stderr")
    parser.add_argument("--spans", action="store_true", help="per-event spans' causes")
    parser.add_argument("--walk", type=float, help="containers grown from this s to the end")
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)  # one run (a child)
    args = parser.parse_args()
    if args.run is not None:
        return run_child(args)
    sizes = sorted(int(x) for x in args.accounts.split(","))
    runs = []
    for n in sizes:
        minutes = args.long_minutes if args.long_minutes and n == sizes[-1] else args.minutes
        cmd = [sys.executable, __file__, "--run", str(n), "--minutes", str(minutes)]
        cmd += ["--trade-every", str(args.trade_every)]
        cmd += ["--no-rate-limits"] if args.no_rate_limits else []
        cmd += ["--no-scrape"] if args.no_scrape else []
        cmd += ["--spans"] if args.spans else []
        cmd += ["--tracemalloc", str(args.tracemalloc)] if args.tracemalloc else []
        cmd += ["--walk", str(args.walk)] if args.walk is not None else []
        print(f"== {n} account(s), {minutes:g} min", flush=True)
        # the run's progress (stderr) shows as it goes; its figures come on stdout
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False, env=os.environ)
        if done.returncode != 0:
            return 1
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"   RSS over time (s, MB): {runs[-1]['rss_series']}", flush=True)
        print(f"   loop: {_loop_line(runs[-1])}", flush=True)
        policed, reconciled = _fmt(runs[-1]["policed_s"], ".2f"), runs[-1]["start_s"]
        print(f"   start: every account policed after {policed} s, reconciled after "
              f"{reconciled:.2f} s", flush=True)  # fmt: skip
    print("fleet: one daemon, N accounts, the catalogue ruleset on each (rulesets/topstep.yaml)")
    table(runs)
    return 0 if judge(runs[-1]) else GOAL_MISSED


if __name__ == "__main__":
    sys.exit(main())
