"""The evaluator's own cost per event kind, warm: `Evaluator.evaluate` called in a loop.

engine_bench.py measures each event in place, where most of a rare event's cost is
code and data not in the CPU's caches (a fill touches a few hundred functions once
in a while); this isolates the rule machinery (the rules a kind runs, each entity
bound, timed and latched) from that, so a change to it shows above the noise.
It plays engine_bench's session until one position and its stop are open, then
times, best of --repeat, the evaluation of the last event of each kind, and the
records a fill, a position and a balance update build for the store.

    .venv/bin/python benchmarks/evaluate_bench.py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "engine"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import engine_bench as eb  # noqa: E402
from rmdsl.engine import restore  # noqa: E402
from rmdsl.engine.evaluate import TimerChanges  # noqa: E402
from rmdsl.lang import types  # noqa: E402
from rmdsl.lang.format import format_value  # noqa: E402
from rmdsl.tooling.offline import quiet_engine_logs  # noqa: E402

# a value of each type a firing shows (money, count, symbol, duration, flag, map, number)
SHOWN: tuple[tuple[object, types.Type], ...] = (
    (Decimal("-412.50"), types.MONEY),
    (4, types.INT),
    ("MNQ", types.STRING),
    (60_000, types.DURATION),
    (False, types.BOOL),
    ({"MNQ": 2, "ES": 1}, types.Type("map", types.INT)),
    (Decimal("2.50"), types.NUMBER),
)
KINDS = ("TradeEvent", "PositionEvent", "OrderEvent", "AccountEvent", "QuoteEvent")


def best_us(call: Callable[[], Any], loops: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(loops):
            call()
        best = min(best, (time.perf_counter_ns() - t0) / loops / 1000)
    return best


async def measure(loops: int, repeat: int) -> None:
    ruleset = eb.load_ruleset(ROOT / "rulesets/topstep.yaml")
    broker = eb.RecordingBroker()
    engine = eb.Engine(ruleset, broker, eb.NullStore(), eb.CollectingNotifier(), lambda: eb.START)  # type: ignore[arg-type]
    broker.state = engine.state
    await engine.start()
    last: dict[str, Any] = {}
    for ev in eb.session(40_000, 900, balances=True, days=2):
        await engine.process(ev)
        for effect in broker.take_outbox():
            await engine.process(effect)
        last[type(ev).__name__] = ev
        if type(ev).__name__ == "PositionEvent" and ev.size > 0 and len(last) == len(KINDS):
            break
    st, today, ev_ = engine.state, engine.intake.today, engine.evaluator
    print(f"state: {len(st.positions)} position(s), {len(st.orders)} working order(s)")
    for kind in KINDS:
        event = last[kind]
        us = best_us(lambda e=event: ev_.evaluate(e, TimerChanges()), loops, repeat)
        print(f"  evaluate {kind:14} {us:6.2f} us")
    fill, pos = last["TradeEvent"], next(iter(st.positions.values()))
    day = today.trading_day
    print(
        f"  account row         {best_us(lambda: today.account_record(st), loops, repeat):6.2f} us"
    )
    trade = best_us(lambda: restore.trade_record(1, fill, day), loops, repeat)  # type: ignore[arg-type]
    print(f"  fill row            {trade:6.2f} us")
    position = best_us(lambda: restore.position_record(1, pos), loops, repeat)
    print(f"  position row        {position:6.2f} us")
    shown = best_us(lambda: [format_value(v, t) for v, t in SHOWN], loops, repeat) / len(SHOWN)
    print(f"  a firing's value    {shown:6.2f} us (format_value, one of each type)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with quiet_engine_logs():
        asyncio.run(measure(args.loops, args.repeat))


if __name__ == "__main__":
    main()
