"""Cold `rmdsl check` on a generated 50-rule ruleset: min and median wall time (target <= 0.5 s).

Usage: python benchmarks/check_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.5
SHAPES = (
    ("day.realized_pnl <= params.p{i}", "-${v}", "[flatten, lockout(until: reset)]"),
    ("day.trades >= params.p{i}", "{v}", "[alert]"),
    ("positions.contracts > params.p{i}", "{v}", "[reduce_position(to: params.p{i})]"),
    (
        "now.time in 15:00..17:00 and positions.count > 0 and day.pnl < params.p{i}",
        "-${v}",
        "[flatten]",
    ),
    ("pnl(30m) <= params.p{i} or day.consecutive_losses >= 3", "-${v}", "[cooldown(15m)]"),
)


def ruleset(n: int = 50) -> str:
    params, rules = [], []
    for i in range(n):
        when, value, do = SHAPES[i % len(SHAPES)]
        params.append(f"  p{i}: {value.format(v=100 + i)}")
        rules.append(
            f"  rule_{i}:\n    when: {when.format(i=i)}\n    do: {do.format(i=i)}\n"
            f'    message: "rule {i}: {{day.realized_pnl}} / {{params.p{i}}}"'
        )
    return "rmdsl: 1\nname: bench\nparams:\n" + "\n".join(params) + "\nrules:\n" + "\n".join(rules)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(ruleset(), encoding="utf-8")
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "rmdsl", "check", str(path)], capture_output=True, text=True
            )
            times.append(time.perf_counter() - start)
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr, file=sys.stderr)
                return 1
    best, median = min(times), statistics.median(times)
    verdict = "ok" if median <= TARGET_S else "SLOW"
    print(
        f"rmdsl check, 50 rules, cold: min {best:.3f} s, median {median:.3f} s "
        f"({args.runs} runs, target <= {TARGET_S} s): {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
