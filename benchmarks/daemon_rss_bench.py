"""Memory of the daemon over a long simulated session (goal: RSS <= 100 MB and flat).

`rmdsl run` runs as a subprocess connected through the real SDK to the
simulated gateway in this process, which streams quotes every 50 ms and has the
trader open and close MNQ positions (some too large, so the daemon reduces
them). The daemon's VmRSS is sampled every second; the growth is the slope of
a least-squares line over the second half of the run. The day's fills are
kept until the reset (windows like fills(1h), P&L), so growth per 1000 fills
is printed too: at this fill rate (~17,000 an hour) that term dominates.

Usage: python benchmarks/daemon_rss_bench.py [--duration 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rmdsl.broker.simgateway import SimGateway

RULESET = """\
rmdsl: 1
name: rss-bench
params:
  max_mnq: 2
rules:
  mnq_contracts:
    scope: symbol
    when: symbol == "MNQ" and contracts(symbol) > params.max_mnq
    do: [reduce_position(to: params.max_mnq)]
  losing_streak:
    when: day.consecutive_losses >= 3
    do: [alert]
"""
GOAL_MB = 100.0
GOAL_MISSED = 3  # exit status when a figure misses its goal: `./dev bench` goes on
FLAT_MB_PER_HOUR = 5.0


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def slope_mb_per_hour(samples: list[tuple[float, float]]) -> float:
    xs, ys = [t for t, _ in samples], [m for _, m in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in samples) / den * 3600


async def drive(gw: SimGateway, until: float) -> int:
    """Quotes every 50 ms; a trader action every 250 ms. Returns the number of fills."""
    step = 0
    while time.monotonic() < until:
        price = 21000 + (step % 40) * 0.25
        gw.set_quote("MNQ", price)
        gw.set_quote("ES", 6000 + (step % 20) * 0.25)
        if step % 5 == 0:
            size = gw.position_size("MNQ")
            if size:
                gw.trader_close("MNQ")
            else:
                gw.trader_place("MNQ", "buy", "market", 1 + (step // 5) % 4)  # 3 or 4: reduced
        step += 1
        await asyncio.sleep(0.05)
    return sum(1 for p in gw.pushes if p.target == "GatewayUserTrade")


async def bench(duration: float, tmp: Path) -> tuple[list[tuple[float, float]], int]:
    ruleset = tmp / "rss.yaml"
    ruleset.write_text(RULESET, encoding="utf-8")
    async with SimGateway(rate_limits=False) as gw:  # measures memory, not the 429 budget
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PROJECT_X", "RMDSL_"))}
        env.update(gw.sdk_env())
        env["PROJECTX_REQUESTS_PER_MINUTE"] = "1000000"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rmdsl", "run", "--ruleset", str(ruleset),
            "--account", "PRAC-SIM-1", "--state", str(tmp / "state.db"), "--log-level", "error",
            env=env,
        )  # fmt: skip
        try:
            while not gw.requests.calls("/Trade/search"):
                await asyncio.sleep(0.05)
            start = time.monotonic()
            driver = asyncio.create_task(drive(gw, start + duration))
            samples = []
            while not driver.done():
                samples.append((time.monotonic() - start, rss_mb(proc.pid)))
                await asyncio.sleep(1.0)
            fills = await driver
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
        # the pushes the gateway keeps grow in this process, not in the daemon's
        return samples, fills


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        samples, fills = asyncio.run(bench(args.duration, Path(tmp)))
    first, last = samples[0][1], samples[-1][1]
    peak = max(m for _, m in samples)
    half = samples[len(samples) // 2 :]
    growth = slope_mb_per_hour(half) if len(half) >= 3 else 0.0
    per_fill = (last - first) / fills * 1000 if fills else 0.0
    print(f"daemon RSS over {args.duration:g} s of simulated trading ({fills} fills)")
    print(
        f"  start {first:.1f} MB  end {last:.1f} MB  peak {peak:.1f} MB  "
        f"trend (second half) {growth:+.1f} MB/hour  ({per_fill:+.2f} MB per 1000 fills)"
    )
    ok = peak <= GOAL_MB and growth <= FLAT_MB_PER_HOUR
    print(
        f"  goal peak <= {GOAL_MB:g} MB and trend <= {FLAT_MB_PER_HOUR:g} MB/hour: "
        f"{'met' if ok else 'MISSED'}"
    )
    return 0 if ok else GOAL_MISSED


if __name__ == "__main__":
    sys.exit(main())
