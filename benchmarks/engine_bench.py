"""Engine benchmark: per-event processing time, events/s, per-rule evaluation time, RSS.

Runs rulesets/topstep.yaml (or --ruleset FILE) over a simulated 24 h session (quotes all day on
MNQ and ES; in session hours a protected trade every --trade-every seconds;
the 17:00 reset) through Engine.process on one core, with a store that drops
writes (the engine alone) and a broker whose effects are fed back.

    .venv/bin/python benchmarks/engine_bench.py                  # 200k events
    .venv/bin/python benchmarks/engine_bench.py --events 1000000 # the 24 h figure
    .venv/bin/python benchmarks/engine_bench.py --account-names  # + account.*, week.*, days(N)

--account-names runs benchmarks/account_names.yaml (topstep.yaml plus rules on every name
of the account model and the periods beyond the day) and feeds the balance updates the
gateway sends after each fill.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import random
import statistics
import sys
import time
from array import array
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "engine"))

from rmdsl.contract.events import (  # noqa: E402
    AccountEvent,
    Event,
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
from rmdsl.engine.persistence import PersistedState  # noqa: E402
from rmdsl.metrics import rss_mb  # noqa: E402
from rmdsl.notify import CollectingNotifier  # noqa: E402
from rmdsl.pipeline import load_ruleset  # noqa: E402
from rmdsl.tooling.offline import quiet_engine_logs  # noqa: E402

START = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)  # Sunday 18:00 CST .. Monday 18:00
CHICAGO = ZoneInfo("America/Chicago")
FEES = Decimal("0.74")
CONTRACTS = (("CON.F.US.MNQ.H26", Decimal("21000")), ("CON.F.US.EP.H26", Decimal("5000")))


class NullStore:
    """A StateStore that keeps nothing: measures the engine, not a database."""

    async def load(self, account_id: int) -> PersistedState:
        return PersistedState()

    def __getattr__(self, name: str) -> Any:
        async def drop(*args: object, **kwargs: object) -> Any:
            return [] if name == "enforcement_history" else None

        return drop


def in_session(ts: dt.datetime) -> bool:
    """08:30-15:10 CT on a weekday: the trader only trades then (the ruleset flattens after)."""
    local = ts.astimezone(CHICAGO)
    return local.weekday() < 5 and dt.time(8, 31) <= local.time() < dt.time(15, 5)


def session(
    n: int, trade_every_s: float, seed: int = 7, balances: bool = False, days: int = 1
) -> Iterator[Event]:
    """n events over `days` x 24 h: quotes all day; in session hours a trader opens a
    protected position every `trade_every_s` seconds and closes it 30-90 s later."""
    rng = random.Random(seed)
    step = dt.timedelta(microseconds=days * 86_400_000_000 // n)
    prices = {c: p for c, p in CONTRACTS}
    ids = iter(range(1, 10**9))
    ts, next_trade = START, START
    balance = Decimal(50_000)
    if balances:
        yield AccountEvent(1, "bench", balance, True, ts)
    open_pos: tuple[str, int, Decimal, int, dt.datetime] | None = None
    for _ in range(n):
        ts += step
        contract = CONTRACTS[rng.random() < 0.3][0]
        prices[contract] += Decimal(rng.choice((-1, 0, 1))) * Decimal("0.25")
        yield QuoteEvent(contract, ts, prices[contract])
        if open_pos is None and in_session(ts) and ts >= next_trade:
            contract = CONTRACTS[rng.random() < 0.3][0]
            size, oid, price = rng.choice((1, 1, 2)), next(ids), prices[contract]
            close_at = ts + dt.timedelta(seconds=rng.uniform(30, 90))
            open_pos = (contract, size, price, oid, close_at)
            next_trade = ts + dt.timedelta(seconds=trade_every_s)
            yield OrderEvent(
                oid,
                1,
                contract,
                ts,
                OrderStatus.OPEN,
                OrderType.STOP,
                Side.SELL,
                size,
                None,
                price - 10,
            )
            yield TradeEvent(next(ids), 1, contract, ts, price, None, FEES, Side.BUY, size)
            yield PositionEvent(1, 1, contract, ts, PositionType.LONG, size, price)
        elif open_pos is not None and ts >= open_pos[4]:
            contract, size, entry, oid, _ = open_pos
            open_pos, price = None, prices[contract]
            tick_value = Decimal("0.5") if "MNQ" in contract else Decimal("12.5")
            pnl = (price - entry) * 4 * tick_value * size
            yield TradeEvent(next(ids), 1, contract, ts, price, pnl, FEES, Side.SELL, size)
            yield PositionEvent(1, 1, contract, ts, PositionType.UNDEFINED, 0, entry)
            if balances:  # the gateway's Account update follows the fill's Trade and Position
                balance += pnl - 2 * FEES
                yield AccountEvent(1, "bench", balance, True, ts)
            yield OrderEvent(
                oid,
                1,
                contract,
                ts,
                OrderStatus.CANCELLED,
                OrderType.STOP,
                Side.SELL,
                size,
                None,
                entry - 10,
            )


def pct(data: Sequence[int], q: float) -> float:
    ordered = sorted(data)
    return ordered[max(int(q * len(ordered)) - 1, 0)] / 1000


async def bench(n: int, trade_every_s: float, ruleset_path: Path, days: int = 1) -> dict[str, Any]:
    ruleset = load_ruleset(ruleset_path)
    broker = RecordingBroker()
    engine = Engine(ruleset, broker, NullStore(), CollectingNotifier(), lambda: START)  # type: ignore[arg-type]
    broker.state = engine.state
    await engine.start()
    ring = 200_000  # a fixed ring of the last per-event times: the bench's memory stays flat
    times = array("q", bytes(8 * ring))
    rss: list[tuple[int, float]] = [(0, rss_mb())]
    enforcements = 0
    by_kind: dict[str, list[int]] = {}  # non-quote events (a few thousand a day)
    # the engine's own span (event_processing_ms, what the fleet's per-event p99 is of) by
    # kind and whether the event enforced anything; quotes only when a position is open
    spans: dict[str, array[int]] = {}
    span = engine.metrics.series["event_processing_ms"]
    gc.collect()
    t_all = time.perf_counter()
    count = 0
    # the gateway's Account updates too: the shipped ruleset reads account.to_mll (mll_guard)
    for ev in session(n, trade_every_s, balances=True, days=days):
        kind = type(ev).__name__
        if kind == "QuoteEvent" and ev.contract_id in engine.state.positions:  # type: ignore[attr-defined]
            kind = "QuoteEvent+pos"
        spans_before = span.count
        t0 = time.perf_counter_ns()
        out = await engine.process(ev)
        elapsed_ns = time.perf_counter_ns() - t0
        times[count % ring] = elapsed_ns
        if not kind.startswith("QuoteEvent"):
            by_kind.setdefault(kind, []).append(elapsed_ns)
        if span.count > spans_before and kind != "QuoteEvent":
            key = f"{kind}{' enforcing' if out else ''}"
            spans.setdefault(key, array("q")).append(int((span.last() or 0) * 1e6))
        enforcements += len(out)
        broker.calls.clear()
        for effect in broker.take_outbox():  # what enforcement did takes effect
            await engine.process(effect)
        count += 1
        if count % (n // 10) == 0:
            rss.append((count, rss_mb()))
    elapsed = time.perf_counter() - t_all
    rules = {rid: (s.summary().p50, s.summary().p99) for rid, s in engine.metrics.rules.items()}
    return {
        "events": count,
        "seconds": elapsed,
        "events_per_s": count / elapsed,
        "p50_us": pct(times[: min(count, ring)], 0.50),
        "p99_us": pct(times[: min(count, ring)], 0.99),
        "mean_us": statistics.fmean(times[: min(count, ring)]) / 1000,
        "rules_us": {
            k: (v[0] * 1000 if v[0] else 0, v[1] * 1000 if v[1] else 0) for k, v in rules.items()
        },
        "rss_mb": rss,
        "enforcements": enforcements,
        "decision": engine.metrics.series["event_processing_ms"].summary(),
        "by_kind": {k: (pct(v, 0.5), pct(v, 0.99), len(v)) for k, v in by_kind.items()},
        "spans": {k: (pct(v, 0.5), pct(v, 0.99), len(v)) for k, v in spans.items()},
        "trading_day": str(engine.trading_day),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--trade-every", type=float, default=120.0, help="seconds between entries in session"
    )
    parser.add_argument(
        "--account-names",
        action="store_true",
        help="benchmarks/account_names.yaml: + rules on account.*, week.*, days(N), pnl(7d)",
    )
    parser.add_argument("--ruleset", type=Path, default=ROOT / "rulesets/topstep.yaml")
    parser.add_argument(
        "--days", type=int, default=1, help="spread the events over this many 24 h days"
    )
    args = parser.parse_args()
    path = ROOT / "benchmarks/account_names.yaml" if args.account_names else args.ruleset
    with quiet_engine_logs():
        r = asyncio.run(bench(args.events, args.trade_every, path, args.days))
    print(f"events: {r['events']}  in {r['seconds']:.2f} s  = {r['events_per_s']:,.0f} events/s")
    print(
        f"per event: p50 {r['p50_us']:.1f} us  p99 {r['p99_us']:.1f} us  "
        f"mean {r['mean_us']:.1f} us (last 200k events)"
    )
    d = r["decision"]
    print(
        f"engine's own event_processing metric (state + rules, enforcement excluded, last 4096):"
        f" p50 {d.p50 * 1000:.1f} us  p99 {d.p99 * 1000:.1f} us  max {d.max * 1000:.1f} us"
    )
    for kind, (p50, p99, count) in sorted(r["by_kind"].items()):
        print(f"  {kind:14} p50 {p50:6.1f} us  p99 {p99:6.1f} us  ({count} events)")
    print("the engine's span by kind (event_processing_ms: what the fleet's p99 is of):")
    for kind, (p50, p99, count) in sorted(r["spans"].items()):
        print(f"  {kind:24} p50 {p50:6.1f} us  p99 {p99:6.1f} us  ({count} events)")
    print("rule evaluation (p50 / p99 us):")
    for rid, (p50, p99) in sorted(r["rules_us"].items()):
        print(f"  {rid:24} {p50:6.2f} / {p99:6.2f}")
    print("RSS (MB) by events processed: " + ", ".join(f"{k}: {v:.1f}" for k, v in r["rss_mb"]))
    print(f"enforcement records: {r['enforcements']}  final trading day: {r['trading_day']}")


if __name__ == "__main__":
    main()
