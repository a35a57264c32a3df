"""Which trading day a fill counts in: the day of its own timestamp, on every path.

One rule for a fill that arrives live, late, or through a reconcile
(docs/engine.md, "The trading-day boundary"):

- A fill stamped in the current trading day counts in it (once: its id is
  known for the rest of the day and the whole next one).
- A fill stamped in the previous trading day, delivered after the reset (a
  16:59:59.900 fill that arrives at 17:00:00.050, a re-send after a
  reconnect), belongs to that day, which is closed: it is recorded in the
  old day's row (trades and counters) and reduces the position it closed, but
  it never counts in the new day and fires no rule: the old day's limits have
  ended with it, and the new day's are not the old day's to spend.
- A fill of an earlier day than that is history only.
- A re-delivered id of today or of the previous day is a duplicate and
  changes nothing (a void of it updates its own day).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from rmdsl.contract.events import TradeEvent
from rmdsl.engine import dayclose
from rmdsl.engine.journal import Journal
from rmdsl.engine.origin import Origins
from rmdsl.engine.restore import trade_record
from rmdsl.engine.state import AccountState, TradeResult
from rmdsl.engine.today import Today
from rmdsl.engine.windows import tally

log = logging.getLogger("rmdsl.engine")


async def book(
    ev: TradeEvent, st: AccountState, today: Today, origins: Origins, journal: Journal
) -> str:
    """Count the fill in its own trading day and record it; a TradeResult."""
    day = today.calendar.trading_day(ev.ts)
    current = today.trading_day
    if current is not None and day < current:
        return await _late(ev, day, st, today, origins, journal)
    known = ev.id in st.trades or ev.id in st.previous
    ours = st.by_rmdsl(ev.id) if known else origins.is_ours(ev, st.now)
    result = st.apply_trade(ev, ours)
    if result != TradeResult.DUPLICATE:
        record = trade_record(st.account_id, ev, current or day, ours)
        await journal.persist(journal.store.record_trade(record))
    return result


async def _late(
    ev: TradeEvent,
    day: dt.date,
    st: AccountState,
    today: Today,
    origins: Origins,
    journal: Journal,
) -> str:
    store = journal.store
    closed = today.closed_day
    if closed is None or closed.trading_day != day:
        log.warning("fill %s of %s arrived after that day closed: recorded only", ev.id, day)
        await journal.persist(store.record_trade(trade_record(st.account_id, ev, day)))
        return TradeResult.LATE
    known = st.previous.get(ev.id)
    if known is not None and (known[2] or not ev.voided):
        return TradeResult.DUPLICATE
    ours = known[3] if known is not None else origins.is_ours(ev, st.now)
    st.previous[ev.id] = (ev.ts, ev.pnl, ev.voided, ours, ev.fees)
    if known is None and not ev.voided:
        st.reduce_by_fill(ev)  # the position it closed is smaller, whatever the day
    counts = tally(st.previous)
    today.closed_day = dataclasses.replace(
        closed,
        realized_pnl=counts.realized_pnl,
        peak_pnl=max(closed.peak_pnl, counts.realized_pnl),
        trades=counts.trades,
        wins=counts.wins,
        losses=counts.losses,
        consecutive_losses=counts.consecutive_losses,
        updated_at=st.now,
    )
    log.warning(
        "fill %s stamped %s belongs to the closed trading day %s: counted there, not today",
        ev.id,
        ev.ts.isoformat(),
        day,
    )
    await journal.persist(store.record_trade(trade_record(st.account_id, ev, day, ours)))
    await journal.persist(store.save_account_state(today.closed_day))
    await dayclose.late_fill(st, today, journal, day, ev.id)  # its day's result, long windows
    return TradeResult.LATE
