"""The engine's clock: the resets, lockout ends, `for:`/grace timers and retries that fall due.

Time comes from the events (docs/engine.md, "Time"): before an event is applied,
everything due at or before its timestamp runs, in time order, on the virtual
clock. The daemon asks `next_wakeup` when to send a clock event, so that a due
instant is not left waiting for its next tick.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from rmdsl.engine.dispatch import Dispatcher
from rmdsl.engine.evaluate import Firing
from rmdsl.engine.intake import Intake
from rmdsl.engine.ports import EnforcerPort, Records
from rmdsl.engine.today import FAR

log = logging.getLogger("rmdsl.engine")

Reset = Callable[[dt.datetime], Awaitable[None]]


class Clockwork:
    """Runs what is due; `reset` is the engine's trading-day reset."""

    def __init__(
        self, parts: Intake, enforcer: EnforcerPort, dispatcher: Dispatcher, reset: Reset
    ) -> None:
        # the engine's shared parts, as the intake holds them
        self.state, self.today, self.journal = parts.state, parts.today, parts.journal
        self.lockouts, self.evaluator, self.views = (
            parts.lockouts,
            parts.evaluator,
            parts.clock_views,
        )
        self.enforcer = enforcer
        self.dispatcher = dispatcher
        self.reset = reset
        self._intake = parts  # whether the engine evaluates (not before a reconcile)

    async def advance(self, ts: dt.datetime, received_ns: int, wait: bool) -> Records:
        """Run, in time order, every reset, lockout expiry, timer and retry due at or before ts.

        A timer's enforcement follows the step's `wait`: in run() it goes to a task, so a
        slow close (the SDK sleeps after one) never holds up the events behind it.
        """
        records: Records = []
        lockouts, today = self.lockouts, self.today
        self.enforcer.begin_step()
        while True:
            timer_at = self._timer_at()
            at = min(today.next_reset, lockouts.next_expiry, timer_at, self._retry_at())
            if at > ts:
                break
            self.state.advance(at)
            self.views.update()
            if at == today.next_reset:
                await self.reset(at)
            elif at == lockouts.next_expiry:
                for lifted in lockouts.expire(at):
                    log.warning("lockout by %s lifted", lifted.rule_id)
                    await self.journal.persist(self.journal.store.lift_lockout(lifted.id, at))
            elif at == timer_at:
                records += await self._fire_timers(at, received_ns, wait)
            else:
                records += await self.dispatcher.retry(self.enforcer.take_due(at), wait)
        if self.state.advance(ts):
            self.views.update()
        return records

    async def _fire_timers(self, at: dt.datetime, received_ns: int, wait: bool) -> Records:
        firings: list[Firing] = []
        self.state.bind_ages()
        j = self.journal
        for rec in self.evaluator.timers.due(at):
            await j.persist(j.store.cancel_timer(rec.account_id, rec.key))
            firing = self.evaluator.fire_timer(rec, received_ns)
            if firing is not None:
                firings.append(firing)
        return await self.dispatcher.dispatch(firings, wait) if firings else []

    def _timer_at(self) -> dt.datetime:
        """The next `for:`/grace deadline; none while not evaluating: a timer re-checks its
        rule on the state, which is not the broker's until reconciled (docs/decisions.md
        D18). One due meanwhile fires at the reconcile (catchup.reconcile advances the
        clock once evaluating). Retries, lockout ends and resets run: they carry out or
        end what was already decided."""
        if not self._intake.evaluating:
            return FAR
        return self.evaluator.timers.next_deadline() or FAR

    def _retry_at(self, this_step: bool = False) -> dt.datetime:
        return self.enforcer.next_due(this_step) or FAR

    def next_wakeup(self) -> dt.datetime | None:
        """The engine-clock instant of the next due reset, lockout end, timer or retry."""
        timers = self._timer_at()
        at = min(self.today.next_reset, self.lockouts.next_expiry, timers, self._retry_at(True))
        return None if at == FAR else at
