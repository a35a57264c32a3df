"""Subprocess driver for test_crash_recovery: the real Engine on a SqliteStore, on a virtual clock.

`feed`: start the engine at --now, process the scripted session (a position
without a stop, fills that trip a symbol block, a duplicate fill), print FED,
then keep processing quotes until killed. `restore`: start the engine at --now
from the same database, print the restored state as one JSON line, process a
clock tick per --tick and print what was enforced, then stop cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import sys
from decimal import Decimal
from pathlib import Path

from rmdsl.contract.events import (
    ClockEvent,
    Event,
    PositionEvent,
    PositionType,
    QuoteEvent,
    Side,
    TradeEvent,
)
from rmdsl.enforce.recording_broker import RecordingBroker
from rmdsl.engine.core import Engine
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset
from rmdsl.store import SqliteStore

ACCOUNT = 1
MNQ = "CON.F.US.MNQ.Z26"
ES = "CON.F.US.EP.Z26"


def _fill(tid: int, ts: dt.datetime, contract: str, pnl: str | None, side: Side) -> TradeEvent:
    price = Decimal("21000") if contract == MNQ else Decimal("6000")
    pnl_value = None if pnl is None else Decimal(pnl)
    return TradeEvent(tid, ACCOUNT, contract, ts, price, pnl_value, Decimal(0), side, 1)


def session(t0: dt.datetime) -> list[Event]:
    """The scripted events: see the module docstring."""

    def at(seconds: int) -> dt.datetime:
        return t0 + dt.timedelta(seconds=seconds)

    return [
        _fill(100, at(0), MNQ, None, Side.BUY),
        PositionEvent(1, ACCOUNT, MNQ, at(0), PositionType.LONG, 1, Decimal("21000")),
        _fill(101, at(5), ES, "100.50", Side.SELL),
        _fill(102, at(10), ES, "-250.25", Side.SELL),
        _fill(102, at(11), ES, "-250.25", Side.SELL),  # the SDK delivers it twice
    ]


def _engine(store: SqliteStore, ruleset_path: Path, now: dt.datetime) -> Engine:
    broker = RecordingBroker(simulate=False)
    engine = Engine(
        load_ruleset(ruleset_path),
        broker,
        store,
        CollectingNotifier(),
        lambda: now,
        account_id=ACCOUNT,
    )
    broker.state = engine.state
    return engine


def _emit(kind: str, **data: object) -> None:
    print(json.dumps({"kind": kind, **data}, default=str), flush=True)


async def feed(db: Path, ruleset_path: Path, now: dt.datetime) -> None:
    async with SqliteStore(db) as store:
        engine = _engine(store, ruleset_path, now)
        await engine.start()
        for event in session(now):
            await engine.process(event)
        _emit("fed", calls=[c.describe() for c in engine.broker.calls])  # type: ignore[attr-defined]
        # mid-session: keep the engine and the database busy until SIGKILL arrives
        quote_ts = now + dt.timedelta(seconds=20)
        for i in itertools.count():
            price = Decimal("21000") + Decimal(i % 40) / 4
            await engine.process(QuoteEvent(MNQ, quote_ts, price))
            await asyncio.sleep(0.001)


async def restore(db: Path, ruleset_path: Path, now: dt.datetime, ticks: list[dt.datetime]) -> None:
    async with SqliteStore(db) as store:
        engine = _engine(store, ruleset_path, now)
        await engine.start()
        await engine.flush()  # start-up writes (a lifted lockout) are committed behind it
        day = engine.ctx.day
        _emit(
            "restored",
            trading_day=engine.trading_day,
            realized_pnl=day.realized_pnl,
            trades=day.trades,
            lockouts=[
                {"rule": lk.rule_id, "symbol": lk.symbol, "until": lk.until_ts}
                for lk in await store.active_lockouts(ACCOUNT)
            ],
            engine_blocks_es=engine.lockouts.blocking("ES") is not None,
            timers={t.key: t.deadline for t in engine.evaluator.timers.running.values()},
            positions=sorted(engine.state.positions),
        )
        for tick in ticks:
            records = await engine.process(ClockEvent(tick))
            _emit(
                "tick",
                at=tick,
                fired=[(r.rule_name, r.action, str(r.outcome)) for r in records],
                calls=[c.describe() for c in engine.broker.calls],  # type: ignore[attr-defined]
            )
        await engine.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["feed", "restore"])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--ruleset", type=Path, required=True)
    parser.add_argument("--now", type=dt.datetime.fromisoformat, required=True)
    parser.add_argument("--tick", type=dt.datetime.fromisoformat, action="append", default=[])
    args = parser.parse_args()
    if args.phase == "feed":
        asyncio.run(feed(args.db, args.ruleset, args.now))
    else:
        asyncio.run(restore(args.db, args.ruleset, args.now, args.tick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
