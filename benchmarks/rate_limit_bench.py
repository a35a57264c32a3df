"""A burst of enforcement while searches hammer the gateway's request budget (docs/performance.md,
"Rate limits").

Real SDK + simulated gateway answering HTTP 429 past 200 requests per 60 s.
Per run: four loops of broker.snapshot() (a reconcile gone wild) spend the
budget until the PriorityGate holds them at the reserve; then 20 enforcement
calls go at once (8 closes, one per contract, and 12 cancels). Reported: how
many went through, their latency from the burst's start, the 429s the
gateway sent. `--sdk-limiter` runs the same with the SDK's own RateLimiter
(200/min, first come first served) in the gate's place, for comparison.

Run: .venv/bin/python benchmarks/rate_limit_bench.py [--runs 5] [--sdk-limiter]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import time
from collections.abc import Awaitable
from decimal import Decimal

from project_x_py.utils.async_rate_limiter import RateLimiter

from rmdsl.broker.projectx import ProjectXBroker
from rmdsl.broker.simgateway import SimGateway
from rmdsl.errors import BrokerError

ACCOUNT = "BENCH-1"
CONTRACTS = ("MNQ", "NQ", "MES", "ES", "MYM", "YM", "M2K", "RTY")
CANCELS = 12
HAMMERS = 4


async def discard(_event: object) -> None:
    return None


async def hammer(broker: ProjectXBroker) -> None:
    while True:
        with contextlib.suppress(BrokerError):
            await broker.snapshot()


async def timed(call: Awaitable[object], start: float) -> float | None:
    """ms from the burst's start to this call's end; None when it failed."""
    try:
        await call
    except BrokerError:
        return None
    return (time.perf_counter() - start) * 1e3


async def one_run(sdk_limiter: bool) -> tuple[list[float | None], int, int]:
    async with SimGateway(accounts=((ACCOUNT, Decimal(50_000)),)) as gw:
        os.environ.update(gw.sdk_env())
        broker = ProjectXBroker(ACCOUNT)
        await broker.connect(discard)
        if sdk_limiter:
            broker._client.rate_limiter = RateLimiter(max_requests=200, window_seconds=60)
        try:
            ids = [gw.market.resolve_contract(c).contract_id for c in CONTRACTS]
            for contract in CONTRACTS:
                gw.trader_place(contract, "buy", "market", 1, account=ACCOUNT)
            orders = [
                gw.trader_place("MNQ", "buy", "limit", 1, limit_price="100", account=ACCOUNT).id
                for _ in range(CANCELS)
            ]
            loops = [asyncio.create_task(hammer(broker)) for _ in range(HAMMERS)]
            async with asyncio.timeout(30):  # the searches spent the budget they may
                while not (
                    broker.gate.waited if not sdk_limiter else len(gw.requests.records) > 195
                ):
                    await asyncio.sleep(0.005)
            start = time.perf_counter()
            calls = [broker.close_position(c) for c in ids]
            calls += [broker.cancel_order(o) for o in orders]
            results = await asyncio.gather(*(timed(c, start) for c in calls))
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            return list(results), gw.limits.refused, broker.gate.waited
        finally:
            await broker.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sdk-limiter", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the SDK logs every search; the figures are the output
    ok: list[float] = []
    failed = refused = waited = 0
    for _ in range(args.runs):
        results, run_refused, run_waited = asyncio.run(one_run(args.sdk_limiter))
        ok += [r for r in results if r is not None]
        failed += sum(r is None for r in results)
        refused, waited = refused + run_refused, waited + run_waited
    limiter = "the SDK's RateLimiter (FIFO)" if args.sdk_limiter else "rmdsl's PriorityGate"
    total = len(ok) + failed
    print(f"{args.runs} runs x 20 enforcement calls under {limiter}, {HAMMERS} snapshot loops")
    print(f"  went through: {len(ok)}/{total}; failed: {failed}; gateway 429s: {refused}")
    print(f"  non-enforcement requests held back by the gate: {waited}")
    if ok:
        ms = sorted(ok)
        p95 = ms[max(int(len(ms) * 0.95) - 1, 0)]
        print(f"  latency from the burst's start (ms): p50 {statistics.median(ms):.1f}")
        print(f"    p95 {p95:.1f}  max {ms[-1]:.1f}")


if __name__ == "__main__":
    main()
