"""Engine state <-> persistence records: restore at start, reconcile after a reconnect.

Records are built here so the engine's hot path stays free of conversion code.
Restoring works on the engine's parts (the state, the day, the journal, the
lockouts, the evaluator's timers), handed over one by one: never the Engine.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from rmdsl.contract.broker import Snapshot
from rmdsl.contract.events import (
    OrderEvent,
    OrderType,
    PositionEvent,
    PositionType,
    Side,
    TradeEvent,
)
from rmdsl.engine import params
from rmdsl.engine.compact import DayFills
from rmdsl.engine.entities import Order, Position
from rmdsl.engine.evaluate import GRACE_ID, Evaluator, Firing, TimerChanges
from rmdsl.engine.execute import lockout_firing
from rmdsl.engine.journal import Journal
from rmdsl.engine.lockouts import Lockouts, is_pause
from rmdsl.engine.persistence import (
    AccountStateRecord,
    PersistedState,
    PositionRecord,
    TradeRecord,
)
from rmdsl.engine.state import AccountState
from rmdsl.engine.timers import timer_key
from rmdsl.engine.today import Today


@dataclass(frozen=True, slots=True)
class Parts:
    """What restoring touches: the state, the day, the writes, the lockouts, the timers."""

    state: AccountState
    today: Today
    journal: Journal
    lockouts: Lockouts
    evaluator: Evaluator


# a fill's fields that its event and its record keep under one name, copied both ways (the
# record adds the symbol, the trading day and whether the fill was rmdsl's; `side` is a word)
_FILL_FIELDS = ("contract_id", "ts", "size", "price", "pnl", "fees", "voided", "order_id")


def _fill_fields(fill: TradeEvent | TradeRecord) -> dict[str, Any]:
    return {name: getattr(fill, name) for name in _FILL_FIELDS}


def trade_record(
    account_id: int, ev: TradeEvent, day: dt.date, by_rmdsl: bool = False
) -> TradeRecord:
    """A fill as persisted: the day it counts in and whether it was rmdsl's own close."""
    return TradeRecord(
        trade_id=ev.id,
        account_id=account_id,
        symbol=ev.symbol,
        trading_day=day,
        side=ev.side.word,
        by_rmdsl=by_rmdsl,
        **_fill_fields(ev),
    )


def trade_event(rec: TradeRecord) -> TradeEvent:
    """A persisted fill as the event it was: a restart applies it again."""
    side = Side.BUY if rec.side == "buy" else Side.SELL
    return TradeEvent(id=rec.trade_id, account_id=rec.account_id, side=side, **_fill_fields(rec))


def position_record(account_id: int, pos: Position) -> PositionRecord:
    return PositionRecord(
        position_id=pos.id,
        account_id=account_id,
        symbol=pos.symbol,
        contract_id=pos.contract_id,
        side="long" if pos.long else "short",
        quantity=pos.size,
        entry_price=pos.avg_price,
        opened_at=pos.opened_at,
        updated_at=pos.updated_at,
    )


def position_event(rec: PositionRecord) -> PositionEvent:
    kind = PositionType.LONG if rec.side == "long" else PositionType.SHORT
    return PositionEvent(
        rec.position_id,
        rec.account_id,
        rec.contract_id,
        rec.opened_at,
        kind,
        rec.quantity,
        rec.entry_price,
    )


async def apply(parts: Parts, persisted: PersistedState, now: dt.datetime) -> None:
    """Restore today's counters, positions, active lockouts and running timers."""
    st, today, j = parts.state, parts.today, parts.journal
    account = persisted.account
    if account is not None and account.trading_day == today.trading_day:
        for rec in persisted.trades:
            st.apply_trade(trade_event(rec), rec.by_rmdsl)
        st.ctx.day.peak_pnl = max(st.ctx.day.peak_pnl, account.peak_pnl)
        st.ctx.day.drawdown = st.ctx.day.peak_pnl - st.ctx.day.pnl
        remember_closed_day(st, today, persisted.previous, persisted.previous_trades)
        if params.restore(today, st.ctx, account.params):  # a loosened file waits for the reset
            await j.persist(j.store.save_account_state(today.account_record(st)))
    elif account is not None:
        # a reset passed while the daemon was down: snapshot the old day, start the new one
        remember_closed_day(st, today, account, persisted.trades)
        last = today.calendar.last_reset(now)
        await j.persist(j.store.before_reset(st.account_id, account.trading_day, last))
        await j.persist(j.store.reset_day(today.account_record(st, last_reset=last)))
    for prec in persisted.positions:
        st.apply_position(position_event(prec))
    parts.lockouts.restore(persisted.lockouts)
    for lifted in parts.lockouts.expire(now):
        await j.persist(j.store.lift_lockout(lifted.id, now))
    for timer in persisted.timers:
        parts.evaluator.timers.add(timer)
    changes = TimerChanges()
    parts.evaluator.update_grace(changes)
    await j.timers(changes)


def police(
    st: AccountState, lockouts: Lockouts, zone: dt.tzinfo, skip: frozenset[str] = frozenset()
) -> list[Firing]:
    """Lockout firings for exposure that exists while a lockout is active (after a restore).

    The position's opened-at / order's placed-at is passed so that a pause, which only
    polices what opened during it, also catches what opened while the daemon was down.
    `skip`: lockouts whose own flatten is about to run (set by the catch-up).
    """
    out: list[Firing] = []
    for pos in st.positions.values():
        lock = lockouts.blocking(pos.symbol, pos.opened_at, skip)
        if lock is not None:
            out.append(
                lockout_firing(lock, pos.contract_id, pos.symbol, None, "close", st.now, zone)
            )
    for order in st.orders.values():
        firing = police_order(st, lockouts, order, order.event, zone, skip)
        out += [] if firing is None else [firing]
    return out


def police_order(
    st: AccountState,
    lockouts: Lockouts,
    order: Order,
    event: OrderEvent,
    zone: dt.tzinfo,
    skip: frozenset[str] = frozenset(),
) -> Firing | None:
    """The cancel an active lockout makes of a working order, as of `event`; None when no
    lockout forbids it (a pause lets a stop or target protect what is still open, and a
    market order is, usually, a close)."""
    if order.event.type is OrderType.MARKET:
        return None
    lock = lockouts.blocking(order.symbol, order.placed_at, skip)
    if lock is None or (is_pause(lock) and st.closes_position(order)):
        return None
    return lockout_firing(lock, order.contract_id, order.symbol, event, "cancel", st.now, zone)


def take_snapshot_info(st: AccountState, snapshot: Snapshot) -> None:
    """The snapshot's account and contract facts, before any fill is caught up."""
    st.apply_account(snapshot.account)
    for info in snapshot.contracts:
        st.set_contract(info.symbol, info.tick_size, info.tick_value)


def opened(st: AccountState) -> dict[str, dt.datetime]:
    """When each position the engine knows opened (taken before a snapshot is caught up)."""
    return {cid: pos.opened_at for cid, pos in st.positions.items()}


async def replace(
    parts: Parts, snapshot: Snapshot, known: dict[str, dt.datetime] | None
) -> TimerChanges:
    """The snapshot's positions and orders replace the engine's (persisted). The grace of a
    position not `known` before (opened while rmdsl was not listening) counts from its open
    time, and the timers and latches of the position its contract held before are dropped;
    `known` None (a test's initial state: history, not missed): every grace starts now."""
    st, j, ev = parts.state, parts.journal, parts.evaluator
    st.replace_positions(snapshot.positions)
    st.replace_orders(snapshot.open_orders)
    positions = [position_record(st.account_id, p) for p in st.positions.values()]
    await j.persist(j.store.replace_positions(st.account_id, positions))
    await j.persist(j.store.save_account_state(parts.today.account_record(st)))
    fresh = new_positions(known, st) if known is not None else frozenset()
    changes = TimerChanges()
    for cid in fresh:  # the timer and latches of the position this contract held before
        key = timer_key(GRACE_ID, cid)  # (closed while rmdsl was not listening) are not its own
        if ev.timers.cancel(key) is not None:
            changes.cancelled.append(key)
        ev.latched -= {k for k in ev.latched if k.endswith(f"|{cid}")}
    ev.update_grace(changes, from_open=fresh)
    ev.forget_entities(set(st.positions), changes)
    return changes


def new_positions(before: dict[str, dt.datetime], st: AccountState) -> frozenset[str]:
    """Contracts whose position the engine did not know before the snapshot (or knew as
    another position, opened at another time): their grace counts from their open time."""
    return frozenset(cid for cid, pos in st.positions.items() if before.get(cid) != pos.opened_at)


def remember_closed_day(
    st: AccountState,
    today: Today,
    day: AccountStateRecord | None,
    trades: tuple[TradeRecord, ...],
) -> None:
    """The previous trading day's row and fill ids: a late or re-sent fill of it lands there."""
    if day is None or today.trading_day is None or day.trading_day >= today.trading_day:
        return
    today.closed_day = day
    st.previous = DayFills(
        {
            t.trade_id: (t.ts, t.pnl, t.voided, t.by_rmdsl, t.fees)
            for t in trades
            if t.trading_day == day.trading_day
        }
    )
