"""The hot-reload benchmark runs on the shipped rulesets as they are: it copies the base it
edits and everything that base extends (it failed with RM400 once the base began extending
../topstep/50k.yaml, and only `./dev bench` noticed)."""

from __future__ import annotations

from pathlib import Path

import reload_bench


async def test_the_reload_bench_reloads_each_edit(tmp_path: Path) -> None:
    samples = await reload_bench.bench(2, tmp_path)
    assert len(samples) == 2 and all(s > 0 for s in samples)
