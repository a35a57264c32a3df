"""Cold `rmdsl check` on a generated 50-rule ruleset: min and median wall time (target <= 0.5 s).

--scaling: check time per rule at 1k / 5k / 30k rules, in process, with the input limits
lifted (docs/performance.md, "Input limits"): it must stay flat (linear total time).
--limits: cold `rmdsl check` of the worst files the limits let through, and of a refused one.

Usage: python benchmarks/check_bench.py [--runs N] [--scaling [N ...]] [--limits]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.5
GOAL_MISSED = 3  # exit status when a figure misses its goal: `./dev bench` goes on
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


def dense(n: int) -> str:
    """n one-line rules, ~60 bytes each: the most rules a byte limit lets through."""
    rules = "".join(f"  r{i}: {{when: day.trades > {i}, do: [alert]}}\n" for i in range(n))
    return "rmdsl: 1\nname: dense\nrules:\n" + rules


def long_expressions(n: int, size: int) -> str:
    """n rules whose conditions fill `size` bytes: the most expression text there can be."""
    terms = max(1, (size // n - 40) // 22)  # "day.trades > NNNNN or " is 22 bytes
    when = " or ".join(f"day.trades > {i:5d}" for i in range(terms))
    rules = "".join(f"  r{i}:\n    when: {when}\n    do: [alert]\n" for i in range(n))
    return "rmdsl: 1\nname: long\nrules:\n" + rules


def scaling(sizes: list[int]) -> None:
    """CPU time of check_ruleset per rule, in process, with the input limits lifted."""
    import rmdsl.pipeline as pipeline
    from rmdsl.lang import yaml_loader
    from rmdsl.lang.yaml_loader import NodeBudget
    from rmdsl.rules import document
    from rmdsl.rules import parse as parse_pass

    unlimited = 1 << 30
    parse_pass.__dict__.update(MAX_FILE_BYTES=unlimited, NodeBudget=lambda: NodeBudget(unlimited))
    document.__dict__.update(MAX_RULES=unlimited, MAX_PARAMS=unlimited)
    yaml_loader.__dict__.update(MAX_BYTES=unlimited)
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            for name, text in (("dense", dense(n)), ("bench", ruleset(n))):
                path = Path(tmp) / f"{name}{n}.yaml"
                path.write_text(text, encoding="utf-8")
                start = time.process_time()
                result = pipeline.check_ruleset(path)
                cpu = time.process_time() - start
                assert result.ok, result.diagnostics[:3]
                print(
                    f"{name:5} {n:6d} rules, {len(text) / 1e6:5.2f} MB: {cpu:6.2f} s CPU, "
                    f"{cpu / n * 1e3:5.2f} ms/rule"
                )


def limits() -> None:
    """Cold `rmdsl check` wall time of the worst inputs the limits accept, and refused ones."""
    cases = {
        "1000 rules (bench shape)": ruleset(1000),
        "1000 dense rules": dense(1000),
        "1000 rules, 480 kB of conditions": long_expressions(1000, 480_000),
        "49,990 YAML values": "rmdsl: 1\nname: t\nholidays: [" + "1," * 49_990 + "1]\n",
        "1001 rules (refused, RM015)": dense(1001),
        "100,000 YAML values (refused, RM014)": "rmdsl: 1\nname: t\nx: [" + "1," * 100_000 + "1]\n",
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in cases.items():
            path = Path(tmp) / "case.yaml"
            path.write_text(text, encoding="utf-8")
            start, cpu_before = time.perf_counter(), _children_cpu()
            proc = subprocess.run(
                [sys.executable, "-m", "rmdsl", "check", "-q", str(path)],
                capture_output=True,
                text=True,
            )
            wall, cpu = time.perf_counter() - start, _children_cpu() - cpu_before
            codes = sorted(set(re.findall(r"error\[(RM\d+)\]", proc.stdout)))
            print(
                f"{name:38} {len(text) / 1e3:4.0f} kB: {wall:5.2f} s wall, {cpu:5.2f} s CPU, "
                f"exit {proc.returncode} "
                f"{' '.join(codes)}"
            )


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--scaling", type=int, nargs="*", metavar="N")
    parser.add_argument("--limits", action="store_true")
    args = parser.parse_args()
    if args.scaling is not None:
        scaling(args.scaling or [1000, 5000, 30000])
        return 0
    if args.limits:
        limits()
        return 0
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
    return 0 if verdict == "ok" else GOAL_MISSED


if __name__ == "__main__":
    sys.exit(main())
