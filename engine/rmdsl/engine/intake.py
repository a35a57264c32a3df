"""One broker event applied to the state and the store, by kind; the lockout firings it causes.

Split from the Engine facade (rmdsl.engine.core), which decides when an event
is applied and evaluated: this says what applying it means. A fill is booked
in the trading day of its own timestamp (daybook.py); a position or an order
that appears while a lockout is active is closed or cancelled at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from rmdsl.contract.events import (
    AccountEvent,
    Event,
    OrderEvent,
    OrderType,
    PositionEvent,
    TradeEvent,
)
from rmdsl.engine import daybook, restore
from rmdsl.engine.clockviews import ClockViews
from rmdsl.engine.evaluate import Evaluator, Firing, TimerChanges
from rmdsl.engine.execute import lockout_firing
from rmdsl.engine.journal import Journal
from rmdsl.engine.lockouts import Lockouts, is_pause
from rmdsl.engine.origin import Origins
from rmdsl.engine.persistence import LockoutRecord
from rmdsl.engine.reduceonly import ReduceOnly
from rmdsl.engine.state import AccountState, TradeResult
from rmdsl.engine.today import Today

log = logging.getLogger("rmdsl.engine")


@dataclass(eq=False)
class Intake:
    """Applies events of each kind; holds the fills that come while the engine is not
    evaluating (after a disconnect) for the reconcile that catches them up. Its parts are
    the engine's, shared with the clockwork and the catch-up."""

    state: AccountState
    today: Today
    journal: Journal
    lockouts: Lockouts
    origins: Origins
    evaluator: Evaluator
    clock_views: ClockViews
    reduce_only: ReduceOnly  # what no lockout blocks: an entry or an add while reduce-only
    evaluating: bool = field(default=True, init=False)  # False: disconnected, not reconciled
    _held: dict[int, TradeEvent] = field(default_factory=dict, init=False)

    async def trade(self, event: TradeEvent) -> bool:
        """Record a fill; False for a duplicate or a closed day's fill (no rule runs)."""
        j = self.journal
        result = await daybook.book(event, self.state, self.today, self.origins, j)
        if result in (TradeResult.DUPLICATE, TradeResult.LATE):
            return False
        self.clock_views.refresh_fills()
        await j.persist(j.store.save_account_state(self.today.account_record(self.state)))
        return result == TradeResult.NEW

    async def position(self, event: PositionEvent, changes: TimerChanges) -> list[Firing]:
        st, ev, j = self.state, self.evaluator, self.journal
        before = st.positions.get(event.contract_id)
        pos = st.apply_position(event)
        if before is not None and pos is not None and pos is not before:
            ev.renew({pos.contract_id, pos.symbol}, changes)  # flipped
        if pos is None:
            self.origins.flat(event.contract_id)
            await j.persist(j.store.remove_position(st.account_id, event.id))
        else:
            await j.persist(j.store.upsert_position(restore.position_record(st.account_id, pos)))
        ev.update_grace(changes)
        if pos is None:
            policed = self.reduce_only.police_position(event.contract_id, pos, event)
            return policed + self._left_behind(event)
        lock = self.lockouts.blocking(pos.symbol, pos.opened_at)
        if lock is None:
            return self.reduce_only.police_position(event.contract_id, pos, event)
        return self._policed(lock, pos.contract_id, pos.symbol, event, "close")

    def _left_behind(self, event: PositionEvent) -> list[Firing]:
        """The position is gone: a working order in its contract that a pause or a
        reduce-only let through because it closed the position would now open one (a stop
        left behind): it is policed as if it had just been placed (as a restart does)."""
        out: list[Firing] = []
        sent = self.reduce_only.enforcer.cancel_sent  # a cancel in flight: nothing to add
        left = [o for o in self.state.orders.values() if o.contract_id == event.contract_id]
        for order in [o for o in left if not sent(o.id)]:
            now_placed = replace(order.event, received_ns=event.received_ns)
            st, zone = self.state, self.today.zone
            firing = restore.police_order(st, self.lockouts, order, now_placed, zone)
            if firing is not None:
                out.append(firing)
            elif order.event.type is not OrderType.MARKET:
                out += self.reduce_only.police_order(order, now_placed)
        return out

    def order(self, event: OrderEvent, changes: TimerChanges) -> list[Firing]:
        self.origins.on_order(event, self.state.now)
        order = self.state.apply_order(event)
        self.evaluator.update_grace(changes)
        if order is None or event.type is OrderType.MARKET:
            return []  # a market order is (usually our own) close: it fills, nothing to cancel
        lock = self.lockouts.blocking(order.symbol, order.placed_at)
        if lock is None:
            return self.reduce_only.police_order(order, event)
        if is_pause(lock) and self.state.closes_position(order):
            return []  # a pause lets a stop or target protect what is already open
        return self._policed(lock, order.contract_id, order.symbol, event, "cancel")

    async def account(self, event: AccountEvent) -> None:
        st, j = self.state, self.journal
        st.apply_account(event)
        if event.balance is not None:  # account.net / to_mll for `rmdsl status`
            await j.persist(j.store.save_account_state(self.today.account_record(st)))
        if event.can_trade is True:
            for lifted in self.lockouts.lift_can_trade(st.now):
                log.warning("lockout by %s lifted: the account can trade", lifted.rule_id)
                await j.persist(j.store.lift_lockout(lifted.id, st.now))

    def _policed(
        self, lock: LockoutRecord | None, contract_id: str, symbol: str, event: Event, kind: str
    ) -> list[Firing]:
        if lock is None:
            return []
        now, zone = self.state.now, self.today.zone
        return [lockout_firing(lock, contract_id, symbol, event, kind, now, zone)]

    def hold(self, event: TradeEvent) -> None:
        """A fill that came while not evaluating: the reconcile evaluates it as of its ts."""
        known = self._held.get(event.id)
        if known is None or (event.voided and not known.voided):
            self._held[event.id] = event

    def take_held(self) -> list[TradeEvent]:
        """The fills held while not evaluating (for the reconcile that catches them up)."""
        held, self._held = list(self._held.values()), {}
        return held

    @property
    def holding(self) -> bool:
        return bool(self._held)
