"""Does alert delivery cost enforcement anything? Fill -> close latency with alerts to the log
only, through apprise to a webhook on 127.0.0.1 that answers at once, and to one that hangs.

Same set-up and measure as e2e_latency_bench.py (the simulated gateway, the real
SDK and the daemon in this process; t0 the fill's push, t1 the close request's
arrival). Every close is an "enforced" alert, sent with no rate limit here, so
each sample queues one delivery (`json://` runs its HTTP in apprise's threads).
It also prints how many alerts the webhook received and how long `alert()`
itself takes (the only part on the enforcement path).

Usage: python benchmarks/alert_delivery_bench.py [--samples 300]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from e2e_latency_bench import ONE_CLOSE, ROOTS, flat, measure_closes, pct
from rmdsl.alerting import AppriseNotifier, FanoutNotifier
from rmdsl.commands.run import load_sdk_quietly
from rmdsl.daemon import Daemon
from rmdsl.demo.sim import SimAccount
from rmdsl.notify import CollectingNotifier, Notifier
from rmdsl.pipeline import load_ruleset
from rmdsl.store import SqliteStore


class Webhook:
    def __init__(self, hang: bool) -> None:
        self.hang, self.received = hang, 0
        self.release = asyncio.Event()
        self.runner: web.AppRunner | None = None

    async def handle(self, _request: web.Request) -> web.Response:
        if self.hang:
            await self.release.wait()
        self.received += 1
        return web.Response()

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"json://127.0.0.1:{self.runner.addresses[0][1]}/hook"

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()


class Timed:
    """Wraps a notifier and times its alert() calls (the cost on the enforcement path)."""

    def __init__(self, inner: Notifier) -> None:
        self.inner, self.ns = inner, [0]

    def alert(self, *args: object, **kw: object) -> None:
        started = time.perf_counter_ns()
        self.inner.alert(*args, **kw)  # type: ignore[arg-type]
        self.ns.append(time.perf_counter_ns() - started)


async def one_sample(sim: SimAccount, daemon: Daemon, root: str) -> float:
    """One fill -> close sample, as e2e_latency_bench.py's "rmdsl, one close" case measures it
    (after the last sample's position is flat on the gateway and in the engine)."""
    await flat(sim, daemon.engine, (root,))
    (ms,) = await measure_closes(sim, root, 1)
    return ms


async def bench(mode: str, samples: int, tmp: Path) -> tuple[list[float], int, list[int]]:
    path = tmp / "latency.yaml"
    path.write_text(ONE_CLOSE, encoding="utf-8")
    hook = Webhook(hang=mode == "hanging webhook") if mode != "log only" else None
    phone = None
    inner: Notifier = CollectingNotifier()
    if hook is not None:
        phone = AppriseNotifier([await hook.start()], retries=0, timeout_s=30)
        inner = FanoutNotifier(inner, phone)
    notifier = Timed(inner)
    async with SimAccount(load_ruleset(path), rate_limits=False) as sim:
        os.environ.update(sim.env(requests_per_minute=10_000_000))
        daemon = Daemon(
            path,
            sim.broker(),
            SqliteStore(tmp / f"{len(mode)}.db"),
            notifier,
            reload=False,
            clock=sim.now,
        )
        await daemon.start()
        try:
            for i in range(20):  # warm-up
                await one_sample(sim, daemon, ROOTS[i % len(ROOTS)])
            data = [await one_sample(sim, daemon, ROOTS[i % len(ROOTS)]) for i in range(samples)]
        finally:
            await daemon.stop()
    received = hook.received if hook is not None else 0
    if hook is not None:
        await hook.stop()
    if phone is not None:
        await phone.aclose(0.5)
    return data, received, notifier.ns


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("rmdsl.alert.deliver").setLevel(logging.CRITICAL)  # full queue: dropped
    load_sdk_quietly()
    print(f"fill published -> close received, {args.samples} samples per mode")
    for mode in ("log only", "webhook", "hanging webhook"):
        with tempfile.TemporaryDirectory() as tmp:
            data, received, ns = asyncio.run(bench(mode, args.samples, Path(tmp)))
        p50, p95, p99, worst = pct(data, 0.5), pct(data, 0.95), pct(data, 0.99), max(data)
        print(
            f"  {mode:16} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  p99 {p99:6.2f} ms  "
            f"max {worst:6.2f} ms  alert() p99 {pct([n / 1000 for n in ns], 0.99):6.1f} us  "
            f"webhook received {received}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
