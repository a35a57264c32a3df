"""Every benchmark `./dev bench` runs at least imports: one bench importing a helper another
bench renamed (alert_delivery_bench.py, after e2e_latency_bench.py's rewrite) made the
target fail, and no test noticed. Running them is `./dev bench`'s job, not the suite's."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

# on sys.path: tests/bench/conftest.py puts it there
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

BENCHES = sorted(p.stem for p in BENCHMARKS.glob("*_bench.py"))


def test_the_benchmarks_are_found() -> None:
    assert "e2e_latency_bench" in BENCHES and "alert_delivery_bench" in BENCHES


@pytest.mark.parametrize("name", BENCHES)
def test_each_benchmark_imports(name: str) -> None:
    module = importlib.import_module(name)
    assert callable(getattr(module, "main", None)), f"{name} has no main()"
