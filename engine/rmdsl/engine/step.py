"""One engine step: what is due first, the event applied, its rules evaluated, enforcement sent.

The Engine facade (rmdsl.engine.core) holds the step lock and the store's batch
around each call; this module is what happens inside: `event` for a broker or
clock event, `reset` when the trading day ends, `swap` for a hot reload, `begin`
at start. The parts it works with are the intake's (state, day, journal,
lockouts, evaluator), the enforcer port and the dispatcher.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from rmdsl.contract.events import (
    AccountEvent,
    ConnectionEvent,
    ConnectionState,
    Event,
    OrderEvent,
    PositionEvent,
    QuoteEvent,
    TradeEvent,
)
from rmdsl.engine import catchup, dayclose, params, restore
from rmdsl.engine.clockwork import Clockwork
from rmdsl.engine.dispatch import Dispatcher
from rmdsl.engine.evaluate import GRACE_ID, Firing, TimerChanges
from rmdsl.engine.intake import Intake
from rmdsl.engine.persistence import PersistedState
from rmdsl.engine.ports import EnforcerPort, Records
from rmdsl.engine.ruleerrors import report
from rmdsl.metrics import Metrics
from rmdsl.rules.model import Ruleset

log = logging.getLogger("rmdsl.engine")


class Stepper:
    def __init__(
        self, intake: Intake, enforcer: EnforcerPort, dispatcher: Dispatcher, metrics: Metrics
    ) -> None:
        self.intake = intake
        self.enforcer = enforcer
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.clockwork = Clockwork(intake, enforcer, dispatcher, self.reset)

    async def begin(self, persisted: PersistedState, now: dt.datetime) -> None:
        """At start: the persisted state restored, the day begun, the ruleset recorded."""
        i = self.intake
        i.today.begin(now)
        parts = restore.Parts(i.state, i.today, i.journal, i.lockouts, i.evaluator)
        await restore.apply(parts, persisted, now)
        await dayclose.restore(i.state, i.today, i.journal, persisted, now)  # days, eod_high
        if i.reduce_only.record() is not None:  # caps: the sizes the database held
            i.reduce_only.arm(fresh=True)
        i.clock_views.update()
        await self.rule_errors()
        await self.save_version(now)

    async def event(self, event: Event, wait: bool) -> Records:
        """Advance the clock to the event, apply it, evaluate, enforce (see Engine.process)."""
        t0 = time.perf_counter_ns()
        records = await self.clockwork.advance(event.ts, event.received_ns, wait)
        changes = TimerChanges()
        firings: list[Firing] = []
        i = self.intake
        if isinstance(event, TradeEvent):
            if not i.evaluating:
                i.hold(event)  # not applied: the reconcile evaluates it as of its ts
                return records
            if not await i.trade(event):
                self.metrics.event_processed(time.perf_counter_ns() - t0)
                return records
            # the fill may have closed the position: its timers and latches go now, as they
            # would at its Order or Position event (which may come later: rmdsl.engine.fills)
            i.evaluator.update_grace(changes)
        elif isinstance(event, QuoteEvent):
            i.state.apply_quote(event)
        elif isinstance(event, PositionEvent):
            firings += await i.position(event, changes)
        elif isinstance(event, OrderEvent):
            firings += i.order(event, changes)
        elif isinstance(event, AccountEvent):
            await i.account(event)
        elif isinstance(event, ConnectionEvent):
            records += await self._connection(event)
        self.enforcer.settle()  # the broker's events confirm enforcement goals
        if i.evaluating:
            firings += self._evaluate(event, changes)
        elif firings:  # a lockout, pause, block or reduce-only already decided: enforced
            rules = ", ".join(sorted({f.rule_id for f in firings}))
            log.warning("account %s not reconciled: policed by %s", i.state.account_id, rules)
        await i.journal.timers(changes)
        self.metrics.event_processed(time.perf_counter_ns() - t0)
        if firings:
            records += await self.dispatcher.dispatch(firings, wait)
        return records

    def _evaluate(self, event: Event, changes: TimerChanges) -> list[Firing]:
        firings = self.intake.evaluator.evaluate(event, changes)
        if isinstance(event, TradeEvent) and (cause := self.intake.origins.caused_by(event.id)):
            # a fill of rmdsl's own close never re-arms the rules that sent it
            firings = [f for f in firings if f.rule_id not in cause]
        return firings

    async def _connection(self, event: ConnectionEvent) -> Records:
        i = self.intake
        if event.state is ConnectionState.DISCONNECTED:
            i.evaluating = False  # stale state: wait for reconcile (docs/engine.md)
            log.warning("broker disconnected: evaluation paused until reconciled")
        elif event.state is ConnectionState.RECONCILED:
            i.evaluating = True
            if i.holding:  # a scripted RECONCILED (no snapshot): the held fills, each as of its ts
                ex = self.dispatcher.executor
                trades = catchup.missed_trades(i.take_held())
                deferred = await catchup.catch_up_trades(i, ex, trades, i.state.now)
                return await catchup.run_deferred(ex, i.journal, deferred)
        return []

    async def rule_errors(self) -> Records:
        """Report the rule errors of the last step: metric, log, alert, history (ruleerrors)."""
        j = self.intake.journal
        records = report(self.intake.evaluator.errors, self.metrics, j.notifier, j.account_id)
        for record in records:
            await j.persist(j.store.record_enforcement(record))
        return records

    async def reset(self, at: dt.datetime) -> None:
        """The trading day ends at `at` (the clockwork calls this when it is due)."""
        i = self.intake
        st, today, j = i.state, i.today, i.journal
        old_day = today.ending(at)
        await j.persist(j.store.before_reset(st.account_id, old_day, at))
        today.close(at, st)  # the day that ends is remembered: late fills land there
        await dayclose.close_day(st, j, old_day, at)  # its result kept, the end-of-day high taken
        i.origins.new_day()
        st.reset_day()
        i.clock_views.refresh_fills()
        st.ctx.params = today.ruleset.param_values()
        i.evaluator.latched.clear()
        dayclose.opened(st, today)
        log.warning("trading day reset at %s: now %s", at.isoformat(), today.trading_day)
        await self.save_day(last_reset=at)

    async def swap(
        self, new: Ruleset, fresh: dict[str, object], deferred: dict[str, object]
    ) -> None:
        """A hot reload between two events (see Engine.swap_ruleset)."""
        i = self.intake
        st, j = i.state, i.journal
        i.today.use(new, deferred, st.now)
        st.ctx.params = fresh
        i.evaluator.set_ruleset(new)
        for key in i.evaluator.timers.drop_rules({GRACE_ID} | {r.id for r in new.rules}):
            await j.persist(j.store.cancel_timer(st.account_id, key))
        i.clock_views.set_calendar(i.today.calendar)
        dayclose.opened(st, i.today)  # account_size, mll_distance, the week may have changed
        await self.save_version(st.now)
        # the params in force are the day's, persisted: a restart must not apply a loosening early
        await self.save_day()
        params.log_waiting(i.today, st.ctx.params)
        if i.evaluating:
            # a tightened limit or a new rule applies at once, not at the next matching event;
            # enforcement runs in tasks so the swap never waits on the broker
            changes = TimerChanges()
            st.bind_ages()
            firings = i.evaluator.evaluate_all(changes)
            await j.timers(changes)
            await self.rule_errors()
            if firings:
                await self.dispatcher.dispatch(firings, wait=False)

    async def save_day(self, last_reset: dt.datetime | None = None) -> None:
        """The day's counters and params in force (a reset: the new day's first row)."""
        i = self.intake
        record = i.today.account_record(i.state, last_reset)
        if last_reset is None:
            await i.journal.persist(i.journal.store.save_account_state(record))
        else:
            await i.journal.persist(i.journal.store.reset_day(record))

    async def save_version(self, now: dt.datetime) -> None:
        j = self.intake.journal
        await j.persist(
            j.store.record_ruleset_version(self.intake.today.version(now, j.account_id))
        )
