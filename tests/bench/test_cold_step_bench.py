"""The cold-step benchmark measures what it says: every account keeps its protected position
through the quotes (no rule closes it), and each quote and clock event yields one span."""

from __future__ import annotations

import cold_step_bench


async def test_the_cold_step_bench_measures_each_event() -> None:
    spans = await cold_step_bench.bench(accounts=3, events=40, cold=True)
    assert len(spans["quote (position open)"]) == 40
    assert len(spans["clock"]) == 10
    assert all(s > 0 for values in spans.values() for s in values)
