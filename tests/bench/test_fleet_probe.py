"""The fleet benchmark's probes run in the daemon's process and so count in the RSS it
reports: what they keep must not grow with the run (benchmarks/fleet_probe.py), and the
container walk must name what does grow (benchmarks/fleet_walk.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sized
from pathlib import Path

import fleet_probe

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _kept(probe: fleet_probe.Probe) -> int:
    """Entries held by the probe's containers, one level down (a dict of lists counted)."""
    total = 0
    for value in vars(probe).values():
        if isinstance(value, Sized) and not isinstance(value, str):
            total += len(value)
    return total


def test_a_long_run_of_stalls_gcs_and_quotes_keeps_a_bounded_probe() -> None:
    probe = fleet_probe.Probe()
    for i in range(20_000):  # an hour at 200 accounts: ~500 stalls and ~2,400 quotes a minute
        t = i * 0.5
        probe._collected(t, t + 0.004, 0)
        probe._stall(t + 0.05, 20.0, 20.0)
        probe.fanouts[i % 17] += 1
        probe.ahead[i % 40] += 1
    assert probe.figures()["stalls"] == 20_000
    assert _kept(probe) < 200


def test_a_stall_is_charged_to_the_gc_or_the_scrape_that_overlapped_it() -> None:
    probe = fleet_probe.Probe()
    probe._collected(10.0, 10.02, 2)  # a 20 ms collection
    probe._stall(10.03, 25.0, 25.0)
    probe.scraping[20.0] += 1  # a scrape under way, not yet finished
    probe._stall(20.05, 30.0, 30.0)
    probe._scraped(20.0, 20.1)
    probe._stall(30.05, 30.0, 5.0)  # the process ran 5 of 35 ms: the machine's
    probe._stall(40.05, 30.0, 30.0)
    figures = probe.figures()
    assert figures["stalls_by_cause"] == {"gc": 1, "scrape": 1, "machine": 1, "other": 1}
    assert not probe.recent_gcs and not probe.scraping  # forgotten after RECENT_S; done
    assert figures["gc_gen2"] == 1 and figures["scrape_loop_ms"] == 100.0


def test_spread_reads_percentiles_from_counts() -> None:
    counts = fleet_probe.Counter({1: 90, 7: 9, 200: 1})
    assert fleet_probe._spread(counts) == {"n": 100, "p50": 1, "p95": 7, "max": 200}
    assert fleet_probe._spread(fleet_probe.Counter()) is None


WALK = """
from collections import deque
import fleet_walk

class Holder:
    def __init__(self):
        self.seen = {}  # numbers only: a dict the collector does not track
        self.steady = deque([0, 0, 0], maxlen=3)  # full: it grows no more

holder = Holder()
first = fleet_walk.lengths()
for i in range(5_000):
    holder.seen[i] = float(i)
    holder.steady.append(i)
print("\\n".join(fleet_walk.report(first, fleet_walk.lengths(), top=3)))
"""


def test_the_walk_names_the_container_that_grew_and_its_owner() -> None:
    """In a fresh interpreter, small and quick: in a test process after hundreds of tests the
    walk took ~23 GB (the full repr of a sample item, since bounded with reprlib)."""
    done = subprocess.run(
        [sys.executable, "-c", WALK], cwd=BENCHMARKS, capture_output=True, text=True, timeout=60
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert lines[1].startswith("   +5000 dict now 5000") and "Holder.seen" in lines[1]
    assert not any("Holder.steady" in line for line in lines)
