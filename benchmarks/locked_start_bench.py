"""Start-up of `rmdsl run` on a free and on a write-locked state database (issue 8).

Each run is a real `rmdsl run` subprocess on the simulated gateway (the real
SDK); "locked" runs start while another process holds the database's write
lock (BEGIN IMMEDIATE) for the whole start. Printed: seconds from launch to
the `state database locked` report and to `daemon running` (median, max).

Usage: python benchmarks/locked_start_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rmdsl.broker.simgateway import SimGateway
from rmdsl.store import SqliteStore

RULESET = "rmdsl: 1\nname: bench\nrules:\n  flat:\n    when: day.trades > 1000\n    do: [flatten]\n"
HOLD = (
    "import sqlite3, sys\n"
    "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "db.execute('BEGIN IMMEDIATE')\nprint('held', flush=True)\nsys.stdin.read()\n"
)
RUNNING, LOCKED = "daemon running for account", "state database locked"


async def _until(log: Path, text: str, limit_s: float = 120.0) -> float:
    start = time.monotonic()
    while not (log.is_file() and text in log.read_text(encoding="utf-8")):
        if time.monotonic() - start > limit_s:
            raise TimeoutError(f"no {text!r} in {log} after {limit_s:g} s")
        await asyncio.sleep(0.02)
    return time.monotonic()


async def one_start(gw: SimGateway, tmp: Path, locked: bool) -> tuple[float | None, float]:
    state, log, rules = tmp / "state.db", tmp / "daemon.log", tmp / "rules.yaml"
    rules.write_text(RULESET, encoding="utf-8")
    async with SqliteStore(state):
        pass  # an existing, migrated database
    holder = None
    if locked:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(state)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROJECT_X", "RMDSL_"))}
    env.update(gw.sdk_env(), RMDSL_LOCK_DIR=str(tmp / "locks"))
    launched = time.monotonic()
    daemon = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "rmdsl", "run", "--account", "PRAC-SIM-1", "--no-reload"),
        *("--ruleset", str(rules), "--state", str(state), "--log-file", str(log)),
        env=env,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        reported = await _until(log, LOCKED) - launched if locked else None
        running = await _until(log, RUNNING) - launched
    finally:
        daemon.kill()
        await daemon.wait()
        if holder is not None:
            holder.communicate(b"")
    return reported, running


async def main(runs: int) -> None:
    async with SimGateway() as gw:
        for locked in (False, True):
            results = []
            for i in range(runs):
                with tempfile.TemporaryDirectory(prefix="rmdsl-bench-") as tmp:
                    results.append(await one_start(gw, Path(tmp), locked))
                print(f"  {'locked' if locked else 'free'} run {i + 1}: {results[-1]}", flush=True)
            running = [r for _, r in results]
            line = f"{'locked' if locked else 'free':>6} database: running after median "
            line += f"{statistics.median(running):.2f} s (max {max(running):.2f} s)"
            if locked:
                reported = [r for r, _ in results if r is not None]
                line += f"; lock reported after median {statistics.median(reported):.2f} s"
            print(line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))
