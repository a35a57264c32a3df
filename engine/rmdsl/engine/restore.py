"""Engine state <-> persistence records: restore at start, reconcile after a reconnect.

Records are built here so the engine's hot path stays free of conversion code.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

from rmdsl.contract.broker import Snapshot
from rmdsl.contract.events import OrderType, PositionEvent, PositionType, Side, TradeEvent
from rmdsl.engine import catchup, params
from rmdsl.engine.evaluate import GRACE_ID, Firing, TimerChanges
from rmdsl.engine.lockouts import is_pause
from rmdsl.engine.persistence import (
    AccountStateRecord,
    EnforcementRecord,
    PersistedState,
    PositionRecord,
    TradeRecord,
)
from rmdsl.engine.state import Position
from rmdsl.engine.timers import timer_key

if TYPE_CHECKING:
    from rmdsl.engine.core import Engine


def trade_record(
    engine: Engine, ev: TradeEvent, day: dt.date, by_rmdsl: bool = False
) -> TradeRecord:
    return TradeRecord(
        trade_id=ev.id,
        account_id=engine.state.account_id,
        contract_id=ev.contract_id,
        symbol=ev.symbol,
        ts=ev.ts,
        trading_day=day,
        side=ev.side.word,
        size=ev.size,
        price=ev.price,
        pnl=ev.pnl,
        fees=ev.fees,
        voided=ev.voided,
        order_id=ev.order_id,
        by_rmdsl=by_rmdsl,
    )


def trade_event(rec: TradeRecord) -> TradeEvent:
    return TradeEvent(
        id=rec.trade_id,
        account_id=rec.account_id,
        contract_id=rec.contract_id,
        ts=rec.ts,
        price=rec.price,
        pnl=rec.pnl,
        fees=rec.fees,
        side=Side.BUY if rec.side == "buy" else Side.SELL,
        size=rec.size,
        voided=rec.voided,
        order_id=rec.order_id,
    )


def account_record(engine: Engine, last_reset: dt.datetime | None = None) -> AccountStateRecord:
    st = engine.state
    day, account = st.ctx.day, st.ctx.account
    trading_day = engine.trading_day or engine.calendar.trading_day(st.now)
    return AccountStateRecord(
        account_id=st.account_id,
        trading_day=trading_day,
        realized_pnl=day.realized_pnl,
        unrealized_pnl=day.unrealized_pnl,
        peak_pnl=day.peak_pnl,
        trades=day.trades,
        wins=day.wins,
        losses=day.losses,
        consecutive_losses=day.consecutive_losses,
        last_reset=last_reset or engine.calendar.last_reset(st.now),
        updated_at=st.now,
        balance=account.balance,
        account_name=account.name,
        params=params.to_record(
            engine.ruleset, st.ctx.params, engine.deferred_params, engine.next_reset
        ),
    )


def position_record(engine: Engine, pos: Position) -> PositionRecord:
    return PositionRecord(
        position_id=pos.id,
        account_id=engine.state.account_id,
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


async def apply(engine: Engine, persisted: PersistedState, now: dt.datetime) -> None:
    """Restore today's counters, positions, active lockouts and running timers."""
    st, store = engine.state, engine.store
    account = persisted.account
    if account is not None and account.trading_day == engine.trading_day:
        for rec in persisted.trades:
            st.apply_trade(trade_event(rec), rec.by_rmdsl)
        st.ctx.day.peak_pnl = max(st.ctx.day.peak_pnl, account.peak_pnl)
        st.ctx.day.drawdown = st.ctx.day.peak_pnl - st.ctx.day.pnl
        remember_closed_day(engine, persisted.previous, persisted.previous_trades)
        if params.restore(engine, account.params):  # a loosened file waits for the reset
            await engine._persist(store.save_account_state(account_record(engine)))
    elif account is not None:
        # a reset passed while the daemon was down: snapshot the old day, start the new one
        remember_closed_day(engine, account, persisted.trades)
        last = engine.calendar.last_reset(now)
        await engine._persist(store.before_reset(st.account_id, account.trading_day, last))
        await engine._persist(store.reset_day(account_record(engine, last_reset=last)))
    for prec in persisted.positions:
        st.apply_position(position_event(prec))
    engine.lockouts.restore(persisted.lockouts)
    for lifted in engine.lockouts.expire(now):
        await engine._persist(store.lift_lockout(lifted.id, now))
    if engine.reduce_only.record(engine) is not None:  # caps: the sizes the database held
        engine.reduce_only.arm(st.positions.values(), fresh=True)
    for timer in persisted.timers:
        engine.evaluator.timers.add(timer)
    changes = TimerChanges()
    engine.evaluator.update_grace(changes)
    await engine._save_timers(changes)


def police(engine: Engine, skip: frozenset[str] = frozenset()) -> list[Firing]:
    """Lockout firings for exposure that exists while a lockout is active (after a restore).

    The position's opened-at / order's placed-at is passed so that a pause, which only
    polices what opened during it, also catches what opened while the daemon was down.
    `skip`: lockouts whose own flatten is about to run (set by the catch-up).
    """
    out: list[Firing] = []
    st, ex = engine.state, engine.executor
    for pos in st.positions.values():
        lock = engine.lockouts.blocking(pos.symbol, pos.opened_at, skip)
        if lock is not None:
            out.append(ex.lockout_firing(lock, pos.contract_id, pos.symbol, None, "close"))
        elif not skip:  # a catch-up's new lockout flattens: nothing left to reduce
            out += engine.reduce_only.police_position(engine, pos.contract_id, pos, None)
    for order in st.orders.values():
        if order.event.type is OrderType.MARKET:
            continue
        lock = engine.lockouts.blocking(order.symbol, order.placed_at, skip)
        if lock is None and not skip:
            out += engine.reduce_only.police_order(engine, order, None)
        if lock is None or (is_pause(lock) and st.closes_position(order)):
            continue  # a pause lets a stop or target protect what is already open
        out.append(ex.lockout_firing(lock, order.contract_id, order.symbol, order.event, "cancel"))
    return out


async def reconcile(
    engine: Engine, snapshot: Snapshot, catch_up: bool = True
) -> list[EnforcementRecord]:
    """Broker snapshot -> missed fills caught up, positions and orders replaced, evaluate.

    The missed fills (the snapshot's and those held while not evaluating) are applied
    and evaluated first, each as of its own time (rmdsl.engine.catchup), on the
    positions as the engine last knew them; then the snapshot's positions and orders
    replace the engine's, the grace of a position opened while rmdsl was not listening
    counts from its open time, and every rule is evaluated on the present state.
    Without `catch_up` the snapshot is history (`rmdsl test`'s `initial:`): its fills
    are applied unevaluated and every grace starts now.
    """
    st, store = engine.state, engine.store
    now = max(st.now, engine.clock())
    st.apply_account(snapshot.account)
    for info in snapshot.contracts:
        st.set_contract(info.symbol, info.tick_size, info.tick_value)
    missed = catchup.missed_trades(engine, snapshot.trades_today, engine.take_held())
    known = {cid: pos.opened_at for cid, pos in st.positions.items()}
    deferred = await catchup.catch_up_trades(engine, missed, now, evaluate=catch_up)
    st.replace_positions(snapshot.positions)
    st.replace_orders(snapshot.open_orders)
    positions = [position_record(engine, p) for p in st.positions.values()]
    await engine._persist(store.replace_positions(st.account_id, positions))
    await engine._persist(store.save_account_state(account_record(engine)))
    engine.evaluating = True
    changes = TimerChanges()
    fresh = catchup.new_positions(known, engine) if catch_up else frozenset()
    for cid in fresh:  # the timer and latches of the position this contract held before
        key = timer_key(GRACE_ID, cid)  # (closed while rmdsl was not listening) are not its own
        if engine.evaluator.timers.cancel(key) is not None:
            changes.cancelled.append(key)
        engine.evaluator.latched -= {k for k in engine.evaluator.latched if k.endswith(f"|{cid}")}
    engine.evaluator.update_grace(changes, from_open=fresh)
    engine.evaluator.forget_entities(set(st.positions), changes)
    st.bind_ages()
    firings = police(engine, catchup.flattening(deferred)) + engine.evaluator.evaluate_all(changes)
    await engine._save_timers(changes)
    records = await catchup.run_deferred(engine, deferred)
    if firings:
        records += await engine._dispatch(firings, True)
    # a grace (or `for:`) that ran out while rmdsl was not listening is enforced now
    return records + await engine._advance(st.now, time.monotonic_ns(), True)


def remember_closed_day(
    engine: Engine, day: AccountStateRecord | None, trades: tuple[TradeRecord, ...]
) -> None:
    """The previous trading day's row and fill ids: a late or re-sent fill of it lands there."""
    if day is None or engine.trading_day is None or day.trading_day >= engine.trading_day:
        return
    engine.closed_day = day
    engine.state.previous = {
        t.trade_id: (t.ts, t.pnl, t.voided, t.by_rmdsl, t.fees)
        for t in trades
        if t.trading_day == day.trading_day
    }
