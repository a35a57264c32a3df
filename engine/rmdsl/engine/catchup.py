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
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

from rmdsl.contract.broker import Snapshot
from rmdsl.contract.events import TradeEvent
from rmdsl.engine import dayclose, restore
from rmdsl.engine.clockwork import Clockwork
from rmdsl.engine.dispatch import Dispatcher
from rmdsl.engine.evaluate import Firing, TimerChanges
from rmdsl.engine.execute import LOCKING, Executor
from rmdsl.engine.intake import Intake
from rmdsl.engine.journal import Journal
from rmdsl.engine.lockouts import until_instant
from rmdsl.engine.persistence import EnforcementRecord, LockoutKind, LockoutRecord
from rmdsl.engine.resolve import Step, resolve
from rmdsl.engine.tradingday import Calendar
from rmdsl.lang.schema import UntilKind
from rmdsl.rules.model import Action, Until


@dataclass(frozen=True, slots=True)
class Deferred:
    """The steps of one missed fill: lockouts reserved as of the fill, calls sent later."""

    steps: list[Step]
    reserved: dict[int, tuple[LockoutRecord, bool]]


def lock_until(action: Action) -> Until:
    """How long a locking action locks (execute.py's default: until the reset)."""
    return action.until if action.until is not None else UntilKind.RESET


def in_force(calendar: Calendar, firing: Firing, now: dt.datetime) -> Firing | None:
    """The firing as far as it still holds now: its lockouts that have ended are dropped.

    A firing whose every lockout ended before now is nothing (its flatten belonged
    to the lockout); one without lockouts (an alert, a close) is kept as it is.
    """
    keep: list[Action] = []
    ended = False
    for action in firing.actions:
        if action.name in LOCKING:
            until_ts, _ = until_instant(lock_until(action), firing.ts, calendar)
            if until_ts is not None and until_ts <= now:
                ended = True
                continue
        keep.append(action)
    if not ended:
        return firing
    if not any(a.name in LOCKING for a in keep):
        return None
    return replace(firing, actions=tuple(keep))


def missed_trades(*sources: Iterable[TradeEvent]) -> list[TradeEvent]:
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
    intake: Intake,
    executor: Executor,
    trades: list[TradeEvent],
    now: dt.datetime,
    evaluate: bool = True,
) -> list[Deferred]:
    """Apply and evaluate each fill at its own ts; returns the steps to run once reconciled.

    The engine clock steps back to each fill and is put at `now` afterwards. The
    lockouts are reserved as of the fill (created then, ending fill + duration);
    the broker calls wait until the positions are the snapshot's. With `evaluate`
    False the fills are only applied (`rmdsl test`'s `initial:` trades are history).
    """
    st, calendar = intake.state, intake.today.calendar
    out: list[Deferred] = []
    if not evaluate:
        for ev in trades:
            await intake.trade(ev)
        return out
    try:
        for ev in trades:
            _set_clock(intake, min(ev.ts, now))
            if not await intake.trade(ev):
                continue  # a duplicate: it was evaluated when first seen
            st.bind_ages()
            changes = TimerChanges()
            fired = intake.evaluator.evaluate(ev, changes)
            await intake.journal.timers(changes)
            firings = [f for f in (in_force(calendar, f, now) for f in fired) if f is not None]
            if firings:
                steps = resolve(firings)
                out.append(Deferred(steps, await executor.reserve(steps)))
    finally:
        _set_clock(intake, max(now, st.now))
    return out


def flattening(deferred: list[Deferred]) -> frozenset[str]:
    """The new lockouts of the catch-up that flatten (all but pauses): their own flatten
    closes and cancels the exposure, the reconcile's policing must not send it twice."""
    return frozenset(
        rec.id
        for item in deferred
        for rec, new in item.reserved.values()
        if new and rec.kind is not LockoutKind.PAUSE
    )


async def run_deferred(
    executor: Executor, journal: Journal, deferred: list[Deferred]
) -> list[EnforcementRecord]:
    records: list[EnforcementRecord] = []
    journal.store.seal()  # the caught-up fills are committed while the broker answers
    for item in deferred:
        records += await executor.run(item.steps, item.reserved)
    return records


def _set_clock(intake: Intake, at: dt.datetime) -> None:
    """Set the engine clock, also backwards (catch-up only, fills in time order: the first
    steps back, the others forward)."""
    back = at < intake.state.now
    intake.state.now = at
    if back:
        intake.clock_views.set_calendar(intake.today.calendar)  # drops cached session bounds
    else:
        intake.clock_views.update()


async def reconcile(
    intake: Intake,
    dispatcher: Dispatcher,
    clockwork: Clockwork,
    snapshot: Snapshot,
    now: dt.datetime,
    catch_up: bool,
) -> list[EnforcementRecord]:
    """Broker snapshot -> missed fills caught up, positions and orders replaced, evaluate.

    The missed fills (the snapshot's and those held while not evaluating) are applied
    and evaluated first, each as of its own time, on the positions as the engine last
    knew them; then the snapshot's positions and orders replace the engine's, the grace
    of a position opened while rmdsl was not listening counts from its open time
    (restore.replace), and every rule is evaluated on the present state. Without
    `catch_up` the snapshot is history (`rmdsl test`'s `initial:`): its fills are
    applied unevaluated and every grace starts now.
    """
    st, ex, j = intake.state, dispatcher.executor, intake.journal
    restore.take_snapshot_info(st, snapshot)
    missed = missed_trades(snapshot.trades_today, intake.take_held())
    known = restore.opened(st) if catch_up else None
    st.account_model.holds_missed(dayclose.missed_net(st, intake.today, missed))
    deferred = await catch_up_trades(intake, ex, missed, now, evaluate=catch_up)
    st.account_model.rebase()  # the snapshot's balance already holds the fills caught up
    parts = restore.Parts(st, intake.today, j, intake.lockouts, intake.evaluator)
    changes = await restore.replace(parts, snapshot, known)
    intake.evaluating = True
    st.bind_ages()
    firings = restore.police(st, intake.lockouts, intake.today.zone, flattening(deferred))
    firings += intake.evaluator.evaluate_all(changes)
    await j.timers(changes)
    records = await run_deferred(ex, j, deferred)
    if firings:
        records += await dispatcher.dispatch(firings, True)
    # a grace (or `for:`) that ran out while rmdsl was not listening is enforced now
    return records + await clockwork.advance(st.now, time.monotonic_ns(), True)
