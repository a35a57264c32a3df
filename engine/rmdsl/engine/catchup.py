"""Catching up on what happened while rmdsl was not listening: missed fills, grace, lockouts.

At start and after every reconnect the broker's snapshot shows fills and
positions rmdsl did not see live. Each missed fill is evaluated as of its own
time (the engine clock set to its ts) through the engine's own trade step
(record, count, the rules its kind triggers); what it starts is enforced only
while it is still in force now: a cooldown(30m) from a fill 10 minutes ago is
a lockout until fill + 30m, one from a fill 40 minutes ago is nothing, and so
is the flatten that came with it. A fill the engine already knows (today's
trades in the state database, or seen live) is a duplicate and fires nothing.
docs/engine.md, "Catching up".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rmdsl.contract.events import TradeEvent
from rmdsl.engine.evaluate import Firing, TimerChanges
from rmdsl.engine.lockouts import until_instant
from rmdsl.engine.persistence import EnforcementRecord, LockoutKind, LockoutRecord
from rmdsl.engine.resolve import Step, resolve
from rmdsl.lang.schema import UntilKind
from rmdsl.rules.model import Action, Until

if TYPE_CHECKING:
    from rmdsl.engine.core import Engine

# the actions that set a lockout (execute.py reserves them): they last, the others are one-off
LOCKING = frozenset(("lockout", "cooldown", "block_symbol", "pause", "reduce_only"))


@dataclass(frozen=True, slots=True)
class Deferred:
    """The steps of one missed fill: lockouts reserved as of the fill, calls sent later."""

    steps: list[Step]
    reserved: dict[int, tuple[LockoutRecord, bool]]


def lock_until(action: Action) -> Until:
    """How long a locking action locks (execute.py's default: until the reset)."""
    return action.until if action.until is not None else UntilKind.RESET


def in_force(engine: Engine, firing: Firing, now: dt.datetime) -> Firing | None:
    """The firing as far as it still holds now: its lockouts that have ended are dropped.

    A firing whose every lockout ended before now is nothing (its flatten belonged
    to the lockout); one without lockouts (an alert, a close) is kept as it is.
    """
    keep: list[Action] = []
    ended = False
    for action in firing.actions:
        if action.name in LOCKING:
            until_ts, _ = until_instant(lock_until(action), firing.ts, engine.calendar)
            if until_ts is not None and until_ts <= now:
                ended = True
                continue
        keep.append(action)
    if not ended:
        return firing
    if not any(a.name in LOCKING for a in keep):
        return None
    return replace(firing, actions=tuple(keep))


def missed_trades(engine: Engine, *sources: Iterable[TradeEvent]) -> list[TradeEvent]:
    """Fills from the sources, one per id (the voided copy wins), in time order; the engine
    decides which are new when it applies them, and counts each in the trading day of its
    own timestamp (rmdsl.engine.daybook): a closed day's fill lands there and fires nothing."""
    by_id: dict[int, TradeEvent] = {}
    for source in sources:
        for ev in source:
            known = by_id.get(ev.id)
            if known is None or (ev.voided and not known.voided):
                by_id[ev.id] = ev
    return sorted(by_id.values(), key=lambda t: (t.ts, t.id))


async def catch_up_trades(
    engine: Engine, trades: list[TradeEvent], now: dt.datetime, evaluate: bool = True
) -> list[Deferred]:
    """Apply and evaluate each fill at its own ts; returns the steps to run once reconciled.

    The engine clock steps back to each fill and is put at `now` afterwards. The
    lockouts are reserved as of the fill (created then, ending fill + duration);
    the broker calls wait until the positions are the snapshot's. With `evaluate`
    False the fills are only applied (`rmdsl test`'s `initial:` trades are history).
    """
    st = engine.state
    out: list[Deferred] = []
    if not evaluate:
        for ev in trades:
            await engine._on_trade(ev)
        return out
    try:
        for ev in trades:
            _set_clock(engine, min(ev.ts, now))
            if not await engine._on_trade(ev):
                continue  # a duplicate: it was evaluated when first seen
            st.bind_ages()
            changes = TimerChanges()
            fired = engine.evaluator.evaluate(ev, changes)
            await engine._save_timers(changes)
            firings = [f for f in (in_force(engine, f, now) for f in fired) if f is not None]
            if firings:
                steps = resolve(firings)
                out.append(Deferred(steps, await engine.executor.reserve(steps)))
    finally:
        _set_clock(engine, max(now, st.now))
    return out


def flattening(deferred: list[Deferred]) -> frozenset[str]:
    """The new lockouts of the catch-up that flatten (not pauses, reduce-only): their flatten
    closes and cancels the exposure, the reconcile's policing must not send it twice."""
    return frozenset(
        rec.id
        for item in deferred
        for rec, new in item.reserved.values()
        if new and rec.kind not in (LockoutKind.PAUSE, LockoutKind.REDUCE_ONLY)
    )


async def run_deferred(engine: Engine, deferred: list[Deferred]) -> list[EnforcementRecord]:
    records: list[EnforcementRecord] = []
    engine.store.seal()  # the caught-up fills are committed while the broker answers
    for item in deferred:
        records += await engine.executor.run(item.steps, item.reserved)
    return records


def _set_clock(engine: Engine, at: dt.datetime) -> None:
    """Set the engine clock, also backwards (catch-up only, fills in time order: the first
    steps back, the others forward)."""
    back = at < engine.state.now
    engine.state.now = at
    if back:
        engine.clock_views.set_calendar(engine.calendar)  # drops the cached session bounds
    else:
        engine.clock_views.update()


def new_positions(before: dict[str, dt.datetime], engine: Engine) -> frozenset[str]:
    """Contracts whose position the engine did not know before the snapshot (or knew as
    another position, opened at another time): their grace counts from their open time."""
    return frozenset(
        cid for cid, pos in engine.state.positions.items() if before.get(cid) != pos.opened_at
    )
