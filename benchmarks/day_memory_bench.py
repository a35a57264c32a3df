"""What one fill of the trading day costs in memory until the daily reset, by structure.

One engine on rulesets/topstep.yaml (benchmarks/engine_bench.py's set-up: a store that
drops writes, a broker whose effects are fed back), fed round trips as the daemon feeds
them (the market order FILLED, its Trade, the Position; a quote between), all inside one
trading day. After a warm-up, tracemalloc snapshots before and after N fills: the growth,
by source file and by line, divided by N, is what a fill of the day holds until the reset
(docs/performance.md, "Cheaper fills of the day (r14k)"). The census then counts the live
lockout records and who holds them (a pause started and ended must leave none behind).

    .venv/bin/python benchmarks/day_memory_bench.py             # 2,000 fills
    .venv/bin/python benchmarks/day_memory_bench.py --fills 5000 --lines 15
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import sys
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "engine"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import rmdsl.contract.events as e  # noqa: E402
from engine_bench import FEES, NullStore  # noqa: E402
from rmdsl.enforce.recording_broker import RecordingBroker  # noqa: E402
from rmdsl.engine.core import Engine  # noqa: E402
from rmdsl.engine.persistence import LockoutRecord  # noqa: E402
from rmdsl.notify import CollectingNotifier  # noqa: E402
from rmdsl.pipeline import load_ruleset  # noqa: E402
from rmdsl.tooling.offline import quiet_engine_logs  # noqa: E402

MNQ = "CON.F.US.MNQ.H26"
OPEN = dt.datetime(2026, 3, 2, 14, 31, tzinfo=dt.UTC)  # Monday 08:31 CT, in session
WARM_S = 1800  # the warm-up's fills in the session's first half hour, the measured ones after
DAY_S = 5 * 3600  # ... over five hours, before the 15:08 CT flatten


def round_trips(fills: int, first_id: int, start: dt.datetime, span_s: float) -> Iterator[e.Event]:
    """`fills` fills (half opening, half closing) spread over `span_s` seconds from `start`,
    each with its market order and position event, the P&L varying to the cent."""
    gap = dt.timedelta(seconds=span_s / max(fills, 1))
    price = Decimal("21000")
    ids = iter(range(first_id, first_id + 10 * fills + 10))
    ts = start
    for n in range(fills // 2):
        oid = next(ids)
        yield e.QuoteEvent(MNQ, ts, price)
        yield _order(oid, ts, e.Side.BUY)
        yield e.TradeEvent(next(ids), 1, MNQ, ts, price, None, FEES, e.Side.BUY, 1, order_id=oid)
        yield e.PositionEvent(1, 1, MNQ, ts, e.PositionType.LONG, 1, price)
        ts += gap
        move = Decimal((n * 37) % 41 - 20) * Decimal("0.25")
        cid = next(ids)
        yield _order(cid, ts, e.Side.SELL)
        gross = move * 2  # $0.50 a tick, 4 ticks a point: cents vary
        out = price + move
        yield e.TradeEvent(next(ids), 1, MNQ, ts, out, gross, FEES, e.Side.SELL, 1, order_id=cid)
        yield e.PositionEvent(1, 1, MNQ, ts, e.PositionType.UNDEFINED, 0, price)
        ts += gap


def _order(oid: int, ts: dt.datetime, side: e.Side) -> e.OrderEvent:
    filled, market = e.OrderStatus.FILLED, e.OrderType.MARKET
    return e.OrderEvent(oid, 1, MNQ, ts, filled, market, side, 1, None, None, 1)


async def feed(
    engine: Engine, broker: RecordingBroker, notifier: CollectingNotifier, events: Iterator[e.Event]
) -> None:
    for ev in events:
        await engine.process(ev)
        broker.calls.clear()
        notifier.alerts.clear()  # the harness's notifier keeps every alert; a daemon's sends
        for effect in broker.take_outbox():
            await engine.process(effect)


def _grown(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, key: str) -> list[object]:
    stats = after.compare_to(before, key)
    return sorted(stats, key=lambda s: -s.size_diff)  # type: ignore[attr-defined, no-any-return]


def deep(obj: object, seen: set[int]) -> int:
    """Bytes of obj and of every object it holds (each counted once; small ints and other
    shared constants counted where first met)."""
    if id(obj) in seen or obj is None or isinstance(obj, bool):
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        return size + sum(deep(k, seen) + deep(v, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return size + sum(deep(v, seen) for v in obj)
    if hasattr(obj, "__slots__") and not isinstance(obj, (int, Decimal, dt.datetime)):
        names = [n for c in type(obj).__mro__ for n in getattr(c, "__slots__", ())]
        return size + sum(deep(getattr(obj, n, None), seen) for n in names)
    if hasattr(obj, "__dict__"):
        return size + deep(vars(obj), seen)
    return size


def structures(engine: Engine) -> dict[str, object]:
    """The day's structures a fill adds to (docs/performance.md, r14k)."""
    st = engine.state
    return {
        "AccountState.trades": st.trades,
        "AccountState.fills (windows)": st.fills,
        "FillBook": st.fill_book,
        "Origins": engine.origins,
    }


def census() -> tuple[int, int, Counter[str]]:
    """LockoutRecords before a full collection (what a census without one counts: cyclic
    garbage included), those alive after it, and the types of what refers to them."""
    uncollected = sum(1 for o in gc.get_objects() if isinstance(o, LockoutRecord))
    gc.collect()
    records = [o for o in gc.get_objects() if isinstance(o, LockoutRecord)]
    holders: Counter[str] = Counter()
    for rec in records[:200]:
        for ref in gc.get_referrers(rec):
            if ref is records:
                continue
            holders[type(ref).__name__] += 1
    return uncollected, len(records), holders


async def run(fills: int, warm: int, lines: int) -> None:
    ruleset = load_ruleset(ROOT / "rulesets/topstep.yaml")
    broker, notifier = RecordingBroker(), CollectingNotifier()
    engine = Engine(ruleset, broker, NullStore(), notifier, lambda: OPEN)  # type: ignore[arg-type]
    broker.state = engine.state
    await engine.start()
    # traced from before the warm-up: a buffer that grows by realloc is then charged its
    # growth, not its whole size (an array made before tracing would count whole when moved)
    tracemalloc.start(1)
    # the warm-up: caches, metric rings and first-time tables
    await feed(engine, broker, notifier, round_trips(warm, 1, OPEN, WARM_S))
    gc.collect()
    before = tracemalloc.take_snapshot()
    held0 = len(engine.state.trades)
    sizes0 = {k: deep(v, set()) for k, v in structures(engine).items()}
    later = OPEN + dt.timedelta(seconds=WARM_S)
    await feed(engine, broker, notifier, round_trips(fills, 10 * warm + 100, later, DAY_S))
    uncollected, live, holders = census()  # counted before the collection in it
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    n = len(engine.state.trades) - held0
    total = sum(s.size_diff for s in _grown(before, after, "filename"))  # type: ignore[attr-defined]
    print(f"fills of the day held: {len(engine.state.trades)} ({n} measured)")
    print(f"grown: {total:,} bytes = {total / max(n, 1):.0f} bytes a fill")
    print("by structure (bytes a fill, deep sizes):")
    for k, v in structures(engine).items():
        print(f"  {k:28} {(deep(v, set()) - sizes0[k]) / max(n, 1):8.1f}")
    print("by file (bytes a fill; a file's line made the object, a structure may hold it):")
    for s in _grown(before, after, "filename")[:lines]:
        name = Path(s.traceback[0].filename).name  # type: ignore[attr-defined]
        print(f"  {name:28} {s.size_diff / max(n, 1):8.1f}  ({s.count_diff:+,} blocks)")  # type: ignore[attr-defined]
    print("by line (bytes a fill):")
    for s in _grown(before, after, "lineno")[:lines]:
        frame = s.traceback[0]  # type: ignore[attr-defined]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"  {where:28} {s.size_diff / max(n, 1):8.1f}  ({s.count_diff:+,} blocks)")  # type: ignore[attr-defined]
    active = len(engine.lockouts.active)
    print(
        f"lockout records: {uncollected} before a full collection, {live} alive after it"
        f" (active: {active}); held by: {dict(holders)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=2000)
    parser.add_argument(
        "--warm", type=int, default=1500, help="fills before the measure (the metric rings fill)"
    )
    parser.add_argument("--lines", type=int, default=12)
    args = parser.parse_args()
    with quiet_engine_logs():
        asyncio.run(run(args.fills, args.warm, args.lines))


if __name__ == "__main__":
    main()
