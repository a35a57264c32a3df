"""The fleet benchmark's market: the simulated gateway with N accounts under one login, its
quotes, N-1 traders and the measured account, in a process of its own (fleet_bench.py).

The gateway and its traders cost CPU and memory the daemon must not be charged with,
so they run here; the daemon's process measures itself. Both times of a latency
sample are taken here (time.monotonic_ns): t0 the gateway's send of the breaking
fill's first user event, t1 the arrival of the measured account's first close or
partial close after it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any

from rmdsl.broker.simgateway import SimGateway
from rmdsl.broker.simgateway.contracts import SimClock

CLOSES = ("/Position/closeContract", "/Position/partialCloseContract")
QUOTED = {"MNQ": 21000.0, "ES": 6000.0, "MES": 6000.0, "NQ": 21000.0}
NAME = "FLEET-{:03d}"
STOP = 20_800.0


@dataclass
class Plan:
    """What the market does: N accounts, how often each trades, and for how long."""

    accounts: int
    start: dt.datetime  # the session's virtual start (the daemon's clock shares it)
    anchor: float  # time.monotonic() of `start`, shared with the daemon's clock
    seconds: float
    trade_every_s: float = 60.0  # each busy account: an entry or an exit this often
    quote_every_s: float = 0.1
    sample_every_s: float = 2.0  # the measured account's breaking fills
    rate_limits: bool = True
    seed: int = 7


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    missed: int = 0  # breaking fills with no close within 5 s
    fills: int = 0
    quotes: int = 0


class SharedClock(SimClock):
    """The gateway's virtual clock anchored where the daemon's is: both read the same time."""

    def __init__(self, start: dt.datetime, anchor: float) -> None:
        super().__init__(start)
        self._anchor = anchor


def main(conn: Connection, plan: Plan) -> None:
    """The child process: serve the gateway, say where, trade when told, report, stop."""
    asyncio.run(_serve(conn, plan))


async def _serve(conn: Connection, plan: Plan) -> None:
    gw = SimGateway(
        accounts=[(NAME.format(i), Decimal(50_000)) for i in range(plan.accounts)],
        clock=SharedClock(plan.start, plan.anchor),
        rate_limits=plan.rate_limits,
    )
    async with gw:
        ids = [acc.id for acc in gw.market.iter_accounts()]
        for root, price in QUOTED.items():
            gw.set_quote(root, price)
        conn.send({"api": gw.api_url, "user": gw.user_hub_url, "market": gw.market_hub_url})
        await asyncio.to_thread(conn.recv)  # "go": the daemon is up
        result = Result()
        traders = asyncio.gather(
            _quotes(gw, plan, result), _busy(gw, ids[1:], plan), _measured(gw, ids[0], plan, result)
        )
        await traders
        result.fills = sum(1 for p in gw.pushes if p.target == "GatewayUserTrade")
        conn.send(result)
        await asyncio.to_thread(conn.recv)  # "stop": the daemon has hung up


async def _quotes(gw: SimGateway, plan: Plan, result: Result) -> None:
    rng = random.Random(plan.seed)
    until = time.monotonic() + plan.seconds
    prices = dict(QUOTED)
    while time.monotonic() < until:
        for root in prices:
            prices[root] += rng.choice((-0.25, 0.0, 0.25))
            gw.set_quote(root, prices[root])
            result.quotes += 1
        await asyncio.sleep(plan.quote_every_s)


def _forget(gw: SimGateway) -> None:
    """The gateway's own logs grow with every push: keep the last ones only (this process
    is not measured, but scanning them would slow the market down)."""
    if len(gw.pushes) > 20_000:
        del gw.pushes[:10_000]
    records = gw.requests.records
    if len(records) > 20_000:
        del records[:10_000]
        del gw.requests.answers[: max(len(gw.requests.answers) - 10_000, 0)]


async def _busy(gw: SimGateway, ids: list[int], plan: Plan) -> None:
    """Each account in turn enters (1 MNQ with a protective stop) or exits, so that every
    account trades every trade_every_s, spread evenly over the interval."""
    if not ids:
        return
    until = time.monotonic() + plan.seconds
    gap = plan.trade_every_s / len(ids)
    turn = 0
    while time.monotonic() < until:
        account = ids[turn % len(ids)]
        if gw.position_size("MNQ", account):
            for order in gw.market.orders(account, open_only=True):
                gw.trader_cancel(int(order["id"]), account=account)
            gw.trader_close("MNQ", account=account)
        else:
            gw.trader_place("MNQ", "buy", "market", 1, account=account)
            # protected (no NoStopLossGrace close), far below what the quotes reach
            gw.trader_place("MNQ", "sell", "stop", 1, stop_price=STOP, account=account)
        turn += 1
        await asyncio.sleep(gap)


async def _measured(gw: SimGateway, account: int, plan: Plan, result: Result) -> None:
    """A breaking entry every sample_every_s: 3 MNQ where the catalogue allows 2 (or any
    entry while the account is paused or locked): rmdsl closes or reduces it."""
    until = time.monotonic() + plan.seconds
    await asyncio.sleep(plan.sample_every_s)
    while time.monotonic() < until:
        if gw.position_size("MNQ", account):
            gw.trader_close("MNQ", account=account)
            await asyncio.sleep(0.2)
        _forget(gw)  # between samples: the indices below stay valid while one is measured
        pushes, requests = len(gw.pushes), len(gw.requests.records)
        gw.trader_place("MNQ", "buy", "market", 3, account=account)
        # the order's PENDING announcement, then the fill's events: t0 is the first of them
        t0 = min(p.sent_ns for p in gw.pushes[pushes + 1 : pushes + 5])
        got = await _first_close(gw, account, requests, t0)
        if got is None:
            result.missed += 1
        else:
            result.latencies_ms.append((got - t0) / 1e6)
        await asyncio.sleep(plan.sample_every_s)


async def _first_close(gw: SimGateway, account: int, since: int, t0: int) -> int | None:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        records = gw.requests.records
        for record in records[since:]:
            if record.path in CLOSES and _account_of(record.body) == account:
                return int(record.received_ns)
        since = len(records)
        await asyncio.sleep(0.0005)
    return None


def _account_of(body: Any) -> int | None:
    return int(body["accountId"]) if isinstance(body, dict) and "accountId" in body else None
