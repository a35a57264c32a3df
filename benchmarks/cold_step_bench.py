"""Cold-cache step benchmark: the engine's span of a quote and a clock event when, as in a
daemon of many accounts, each event finds the caches holding other accounts' state and the
SDK's work rather than its own.

N engines (the catalogue ruleset, rulesets/topstep.yaml), each holding a protected MNQ
position, take quotes in turn; every fourth quote, another account takes a clock event.
Between two events the caches are evicted as the daemon's other work evicts them: a 4 MiB
buffer is written (L2 is 1 MiB a core on the benchmark machine) and a SignalR quote frame is
decoded three times. One account with --warm is the other extreme (engine_bench's setting).

    .venv/bin/python benchmarks/cold_step_bench.py                    # 200 accounts, cold
    .venv/bin/python benchmarks/cold_step_bench.py --accounts 1 --warm

The figures are the engine's own span (event_processing_ms, what the fleet's per-event p99
is of): a quick stand-in for benchmarks/fleet_bench.py when working on the per-event cost,
not a replacement for it (docs/performance.md, "Less work per event").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "engine"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from engine_bench import FEES, NullStore  # noqa: E402
from rmdsl.contract.events import (  # noqa: E402
    AccountEvent,
    ClockEvent,
    OrderEvent,
    OrderStatus,
    OrderType,
    PositionEvent,
    PositionType,
    QuoteEvent,
    Side,
    TradeEvent,
)
from rmdsl.enforce.recording_broker import RecordingBroker  # noqa: E402
from rmdsl.engine.core import Engine  # noqa: E402
from rmdsl.notify import CollectingNotifier  # noqa: E402
from rmdsl.pipeline import load_ruleset  # noqa: E402
from rmdsl.rules.model import Ruleset  # noqa: E402
from rmdsl.tooling.offline import quiet_engine_logs  # noqa: E402

START = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)  # Monday 09:00 America/Chicago
MNQ = "CON.F.US.MNQ.H26"
ENTRY = Decimal(21000)
QUOTE_FRAME = json.dumps(
    [
        {
            "type": 1,
            "target": "GatewayQuote",
            "arguments": [
                MNQ,
                {
                    "symbol": "F.US.MNQ",
                    "lastPrice": 21000.25,
                    "bestBid": 21000,
                    "bestAsk": 21000.5,
                    "volume": 12345,
                    "timestamp": "2026-03-02T15:00:00Z",
                },
            ],
        }
    ]
    * 4
)


class Evictor:
    """What the daemon does between two events of one account, as far as the caches see it."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self._buffer = bytearray(4 << 20)
        self._zeros = bytes(len(self._buffer) // 64)

    def __call__(self) -> None:
        if self.on:
            self._buffer[::64] = self._zeros
            for _ in range(3):
                json.loads(QUOTE_FRAME)


async def account(ruleset: Ruleset, n: int) -> Engine:
    """An engine holding a long MNQ protected by a stop (no rule fires on the quotes)."""
    broker = RecordingBroker()
    engine = Engine(ruleset, broker, NullStore(), CollectingNotifier(), lambda: START)  # type: ignore[arg-type]
    broker.state = engine.state
    await engine.start()
    t = START
    await engine.process(AccountEvent(n, "bench", Decimal(50_000), True, t))
    stop = OrderEvent(
        5, n, MNQ, t, OrderStatus.OPEN, OrderType.STOP, Side.SELL, 1, None, ENTRY - 10
    )
    await engine.process(stop)
    await engine.process(TradeEvent(6, n, MNQ, t, ENTRY, None, FEES, Side.BUY, 1))
    await engine.process(PositionEvent(1, n, MNQ, t, PositionType.LONG, 1, ENTRY))
    return engine


async def bench(accounts: int, events: int, cold: bool) -> dict[str, list[float]]:
    ruleset = load_ruleset(ROOT / "rulesets/topstep.yaml")
    engines = [await account(ruleset, n + 1) for n in range(accounts)]
    evict = Evictor(cold)
    spans: dict[str, list[float]] = {"quote (position open)": [], "clock": []}
    t = START
    for i in range(events):
        t += dt.timedelta(milliseconds=5)
        engine = engines[i % accounts]
        evict()
        await engine.process(QuoteEvent(MNQ, t, ENTRY + Decimal(i % 7) * Decimal("0.25")))
        spans["quote (position open)"].append(span_us(engine))
        if i % 4 == 0:
            other = engines[(i + accounts // 2) % accounts]
            evict()
            await other.process(ClockEvent(t))
            spans["clock"].append(span_us(other))
    for engine in engines:
        assert engine.state.positions, "a rule closed the position: the bench measures nothing"
    return spans


def span_us(engine: Engine) -> float:
    last = engine.metrics.series["event_processing_ms"].last()
    assert last is not None
    return last * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--events", type=int, default=60_000, help="quotes (default 60000)")
    parser.add_argument("--warm", action="store_true", help="no eviction between events")
    args = parser.parse_args()
    with quiet_engine_logs():
        spans = asyncio.run(bench(args.accounts, args.events, not args.warm))
    mode = "warm" if args.warm else "cold (caches evicted between events)"
    print(f"cold_step_bench: {args.accounts} account(s), {mode}; the engine's span, us")
    for kind, values in spans.items():
        ordered = sorted(values)
        p50 = ordered[len(ordered) // 2]
        p99 = ordered[int(len(ordered) * 0.99)]
        mean = statistics.fmean(ordered)
        print(f"  {kind:22} p50 {p50:6.1f}  p99 {p99:6.1f}  mean {mean:6.1f}  ({len(values)})")


if __name__ == "__main__":
    main()
