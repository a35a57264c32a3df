"""What a rule would have saved or cost on a recording (docs/engine.md, "Replay impact").

saved = (open P&L of the positions the rule closes, at the moment it fires)
      - (what the recording actually made on those positions from then on: their
         closing fills until each went flat, or their open P&L at the end)
      - for a lockout / symbol block: the net P&L of the fills it would have
        prevented (every fill in its scope until it ends: closing fills' gross minus
        the fees of all of them, opening fills included: trades not taken pay none).
The first two are gross: the rule's close and the recording's closing fills pay
the same fees on the same contracts, so they cancel (docs/language.md, "Net P&L").
Positive: the rule would have saved money; negative: it would have cost money. Closes
made by an active lockout are part of the lockout's figure, not counted again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from rmdsl.contract.events import Event, PositionEvent, TradeEvent, symbol_of
from rmdsl.engine.persistence import LockoutRecord
from rmdsl.tooling.offline import Fired

ZERO = Decimal(0)
_CLOSING = ("close_position", "flatten", "lockout", "cooldown", "block_symbol")


@dataclass(frozen=True, slots=True)
class Impact:
    saved: Decimal
    at_enforcement: Decimal  # open P&L the rule would have realized
    recorded: Decimal  # what the recording made instead (incl. prevented fills)
    contracts: tuple[str, ...]


def measure(
    group: Sequence[Fired],
    events: Sequence[Event],
    final_open: dict[str, Decimal],
    lockouts: Sequence[LockoutRecord],
) -> Impact | None:
    """The impact of one firing (its records), or None when it closes nothing."""
    first = group[0]
    if "lockout.until" in first.record.values:
        return None  # enforcing an active lockout: counted in the lockout's own impact
    action = first.record.action.split("(", 1)[0]
    if action not in _CLOSING and first.record.rule_name != "no_stop_loss_grace":
        return None
    contracts = sorted(
        {
            f.record.target
            for f in group
            if f.record.outcome != "skipped" and f.record.target in first.unrealized
        }
    )
    lock = (
        _lockout_of(first, lockouts) if action in ("lockout", "cooldown", "block_symbol") else None
    )
    if not contracts and lock is None:
        return None
    recorded, at_close, flat_at = ZERO, ZERO, {}
    for c in contracts:
        made, index, fills = _after(events, first.index, c, final_open)
        flat_at[c] = index
        if fills or index == len(events):  # else the firing fill itself had closed it
            recorded += made
            at_close += first.unrealized[c]
    if lock is not None:
        recorded += _prevented(events, first.index, lock, flat_at)
    return Impact(_cents(at_close - recorded), _cents(at_close), _cents(recorded), tuple(contracts))


def _cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"))


def _after(
    events: Sequence[Event], index: int, contract: str, final_open: dict[str, Decimal]
) -> tuple[Decimal, int, int]:
    """Realized P&L of `contract` after event `index` until it went flat, where, and in how
    many closing fills."""
    made, fills = ZERO, 0
    for i in range(index + 1, len(events)):
        ev = events[i]
        if isinstance(ev, TradeEvent) and ev.contract_id == contract and ev.pnl is not None:
            made += ev.pnl
            fills += 1
        elif isinstance(ev, PositionEvent) and ev.contract_id == contract and ev.size == 0:
            return made, i, fills
    return made + final_open.get(contract, ZERO), len(events), fills


def _prevented(
    events: Sequence[Event], index: int, lock: LockoutRecord, flat_at: dict[str, int]
) -> Decimal:
    """Net P&L of the fills in the lockout's scope while it lasted, not already counted."""
    end = lock.until_ts or dt.datetime.max.replace(tzinfo=dt.UTC)
    total = ZERO
    for i in range(index + 1, len(events)):
        ev = events[i]
        if not isinstance(ev, TradeEvent) or ev.ts >= end:
            continue
        if lock.symbol is not None and symbol_of(ev.contract_id) != lock.symbol:
            continue
        if i <= flat_at.get(ev.contract_id, -1):
            continue
        total += ev.net_pnl
    return total


def _lockout_of(first: Fired, lockouts: Sequence[LockoutRecord]) -> LockoutRecord | None:
    for lk in lockouts:
        if lk.rule_id == first.record.rule_name and lk.created_at == first.record.timestamp:
            return lk
    return None
