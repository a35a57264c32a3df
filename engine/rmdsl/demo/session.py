"""One demo run: simulated gateway + real SDK + daemon on the shipped ruleset, script played live.

run_demo() -> the enforcement records, in order, and the expectations that were not met.
Everything it starts (gateway, SDK connections, daemon, database) is stopped before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from rmdsl.broker.simgateway.scenario import ScriptPlayer, parse_script
from rmdsl.daemon import Daemon
from rmdsl.dashboard import DashboardOptions
from rmdsl.demo.display import Display
from rmdsl.demo.money import DemoMoney, of_day, of_tape
from rmdsl.demo.script import EXPECTED, STEPS, DemoStep, Expectation
from rmdsl.demo.sim import SimAccount
from rmdsl.engine.persistence import EnforcementRecord, RecordEnforcement, Write
from rmdsl.notify import CollectingNotifier
from rmdsl.rules.model import Ruleset
from rmdsl.store import SqliteStore

SETTLE_S = 5.0  # wall seconds to wait after the script for the last enforcement
RATE_ENV = "PROJECTX_REQUESTS_PER_MINUTE"


class TapStore(SqliteStore):
    """The SQLite store, also handing each committed enforcement record to a callback."""

    def __init__(self, path: Path, on_record: Callable[[EnforcementRecord], None]) -> None:
        super().__init__(path)
        self._on_record = on_record

    async def apply(self, writes: Sequence[Write]) -> None:
        await super().apply(writes)  # every write comes here, the engine's batches too
        for write in writes:
            if isinstance(write, RecordEnforcement):
                self._on_record(write.record)


@dataclass(frozen=True, slots=True)
class DemoResult:
    records: tuple[EnforcementRecord, ...]
    missing: tuple[Expectation, ...]
    player_errors: tuple[str, ...]
    money: DemoMoney | None = None  # None when rmdsl never saw every fill of the gateway


def unmet(records: Sequence[EnforcementRecord]) -> tuple[Expectation, ...]:
    def met(exp: Expectation) -> bool:
        return any(
            r.outcome == "ok" and exp.met_by(r.rule_name, r.action, r.reason) for r in records
        )

    return tuple(e for e in EXPECTED if not met(e))


@contextlib.contextmanager
def sdk_rate_limit(per_minute: int) -> Iterator[None]:
    """The SDK reads its request rate limit only from the environment."""
    old = os.environ.get(RATE_ENV)
    os.environ[RATE_ENV] = str(per_minute)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(RATE_ENV, None)
        else:
            os.environ[RATE_ENV] = old


async def run_demo(
    ruleset_path: Path,
    ruleset: Ruleset,
    state: Path,
    speed: float,
    display: Display,
    dashboard: DashboardOptions | None = None,
) -> DemoResult:
    async with SimAccount(ruleset, speed=speed) as sim:
        daemon = Daemon(
            ruleset_path,
            sim.broker(),
            TapStore(state, display.enforcement),
            CollectingNotifier(),
            clock=sim.now,
            tick_s=0.1,
            maintenance_s=5.0,
            reload=False,
            observers=[display.event],
            dashboard=dashboard,
        )
        with sdk_rate_limit(100_000):
            await daemon.start()
        opening_balance = sim.gw.market.account(sim.gw.account_id).balance
        if daemon.dashboard is not None:
            display.note(f"live page: {daemon.dashboard.url}")
        elif dashboard is not None:
            display.note(f"no live page: port {dashboard.port} is taken (try --dashboard-port)")
        flusher = asyncio.create_task(_flush(display))  # held lines print in time order
        try:
            player = ScriptPlayer(sim.gw, speed)
            await _play(sim, player, STEPS, speed, display)
            await _settle(display)
            money = await _count_money(daemon, sim, opening_balance)
        finally:
            flusher.cancel()
            await daemon.stop()
            display.flush(force=True)
        return DemoResult(
            tuple(display.records), unmet(display.records), tuple(player.errors), money
        )


async def _play(
    sim: SimAccount, player: ScriptPlayer, steps: Sequence[DemoStep], speed: float, display: Display
) -> None:
    start = time.monotonic()
    for step in steps:
        delay = start + step.at / speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        display.step(sim.now(), step.kind, step.says)
        for action in parse_script([{"at": step.at, **a} for a in step.actions]):
            await player.apply(action)


async def _count_money(daemon: Daemon, sim: SimAccount, opening: Decimal) -> DemoMoney | None:
    """rmdsl's day and the gateway's tape, once rmdsl has seen every fill the gateway made."""
    deadline = time.monotonic() + SETTLE_S
    while daemon.engine is not None and time.monotonic() < deadline:
        tape = [t.payload for t in sim.gw.market.ledger.trades]
        state = daemon.engine.state
        if {t["id"] for t in tape} <= set(state.trades):
            fills = sum(1 for f in state.trades.values() if not f[2])
            balance = sim.gw.market.account(sim.gw.account_id).balance
            day, gateway = of_day(state.ctx.day, fills), of_tape(tape)
            return DemoMoney(day, gateway, balance - opening, tuple(tape))
        await asyncio.sleep(0.05)
    return None


async def _flush(display: Display) -> None:
    while True:
        await asyncio.sleep(0.1)
        display.flush()


async def _settle(display: Display) -> None:
    deadline = time.monotonic() + SETTLE_S
    while unmet(display.records) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # let the last closing fills arrive for the screen
