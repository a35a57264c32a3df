"""Resolved Steps -> lockouts set (persisted first) and broker calls through the Enforcer."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING

from rmdsl.contract.events import Event, OrderEvent
from rmdsl.engine.entities import Position
from rmdsl.engine.evaluate import Firing
from rmdsl.engine.journal import Journal
from rmdsl.engine.lockouts import Lockouts
from rmdsl.engine.persistence import EnforcementRecord, LockoutKind, LockoutRecord
from rmdsl.engine.ports import EnforcerPort
from rmdsl.engine.resolve import Step
from rmdsl.engine.state import AccountState
from rmdsl.engine.today import Today
from rmdsl.lang.format import format_value
from rmdsl.lang.literals import format_duration
from rmdsl.lang.schema import Scope, UntilKind
from rmdsl.lang.types import DATETIME
from rmdsl.rules.model import Action, Until

if TYPE_CHECKING:
    from rmdsl.engine.reduceonly import ReduceOnly


def action_label(action: Action) -> str:
    """`lockout(until=reset)`, `reduce_position(to=2)`, `flatten`."""
    if not action.args:
        return action.name
    parts = []
    for key, value in action.args.items():
        text = (
            format_duration(value) if isinstance(value, int) and key in ("until", "for") else value
        )
        parts.append(f"{key}={text}")
    return f"{action.name}({', '.join(parts)})"


@dataclass(eq=False)
class Executor:
    """Sends the resolved steps of one event: lockouts first, then the enforcer's calls."""

    state: AccountState
    lockouts: Lockouts
    enforcer: EnforcerPort
    journal: Journal
    today: Today  # the lockouts' calendar, the timezone of the times they show
    reduce_only: ReduceOnly  # its caps are taken when one begins, its sweep sent here
    # positions (contract, opened at) whose stop went to breakeven: once per position
    _breakeven_done: set[tuple[str, dt.datetime]] = field(default_factory=set, init=False)

    async def reserve(self, steps: list[Step]) -> dict[int, tuple[LockoutRecord, bool]]:
        """Set the event's lockouts in memory now: the next event is policed even if the
        enforcement task has not run yet. Keyed by step index.

        A new lockout's row joins the batch of the step that caused it, so the fill and the
        lockout it started are committed in one transaction: a kill -9 keeps both or
        neither, and a fill lost with its lockout is caught up from the broker at start
        (docs/engine.md "Persistence")."""
        st = self.state
        out: dict[int, tuple[LockoutRecord, bool]] = {}
        for i, step in enumerate(steps):
            f, a = step.firing, step.action
            if step.skip is not None or a.name not in LOCKING:
                continue
            symbol = f.symbol if a.name == "block_symbol" else None
            if a.name == "block_symbol" and symbol is None:
                continue
            until: Until = a.until if a.until is not None else UntilKind.RESET
            if a.name == "cooldown" and isinstance(a.args.get("for"), int):
                until = a.number("for")
            out[i] = self.lockouts.add(
                account_id=st.account_id,
                rule_id=f.rule_id,
                symbol=symbol,
                until=until,
                now=st.now,
                calendar=self.today.calendar,
                reason=f.message,
                pause=a.name == "pause",
                reduce_only=a.name == "reduce_only",
            )
            rec, new = out[i]
            for lifted in self.lockouts.take_superseded():  # the longer one replaces them
                await self.journal.persist(self.journal.store.lift_lockout(lifted.id, st.now))
            if new:
                if a.name == "reduce_only":
                    self.reduce_only.arm(fresh=self.reduce_only.first(rec))
                await self.journal.persist(self.journal.store.add_lockout(rec))
        return out

    async def run(
        self, steps: list[Step], reserved: dict[int, tuple[LockoutRecord, bool]] | None = None
    ) -> list[EnforcementRecord]:
        """Execute steps in order; a lockout's flatten runs once per event however many fire."""
        reserved = await self.reserve(steps) if reserved is None else reserved
        records: list[EnforcementRecord] = []
        flattened = False
        unsent: set[str] = set()  # covers whose flatten was not sent: their steps run
        enf = self.enforcer
        for i, step in enumerate(steps):
            f, a, label = step.firing, step.action, action_label(step.action)
            if step.skip is not None and step.skip not in unsent:
                records.append(await enf.call(f, label, _target(f), None, step.skip))
                continue
            name = a.name
            if name in LOCKING:
                if i not in reserved:
                    records.append(await enf.call(f, label, "", None, "no symbol in scope"))
                    continue
                symbol = f.symbol if name == "block_symbol" else None
                record = await self._lockout(f, reserved[i], symbol, label)
                records.append(record)
                if name == "pause" or (symbol is None and flattened):
                    continue
                if name == "reduce_only":
                    records += await self.reduce_only.sweep(f, label)
                    continue
                if record.outcome == "skipped":
                    # already locked: no new flatten, but the steps resolve() counted on it to
                    # cover (a policing close, a cancel) are still sent, each by itself
                    what = "flatten" if symbol is None else "symbol block"
                    unsent.add(f"covered by the {what} of {f.rule_id}")
                    continue
                records += await enf.flatten(f, label, reserved[i][0])
                flattened = flattened or symbol is None
            elif name == "flatten":
                records += await enf.flatten(f, label)
                flattened = True
                unsent.discard(step.skip or "")  # this flatten covers the rest after all
            else:
                records += await self._targeted(f, a, label)
        return records

    async def _lockout(
        self, f: Firing, reserved: tuple[LockoutRecord, bool], symbol: str | None, label: str
    ) -> EnforcementRecord:
        """Record the lockout (its row was queued by reserve, in the step that caused it)."""
        rec, new = reserved
        if new:  # its row went into the step's batch when it was reserved
            return await self.enforcer.call(f, label, symbol or "account", None)
        until = until_text(rec, self.today.zone)
        return await self.enforcer.call(
            f, label, symbol or "account", None, f"already locked until {until}"
        )

    async def _targeted(self, f: Firing, a: Action, label: str) -> list[EnforcementRecord]:
        enf, st = self.enforcer, self.state
        name = a.name
        if name == "alert":
            enf.alert(f)
            return [await enf.call(f, label, _target(f), None)]
        if name == "cancel_orders":
            ids = self._orders(f)
            if not ids:
                return [await enf.call(f, label, _target(f), None, "no working orders")]
            return list(await asyncio.gather(*(enf.cancel(f, oid, label) for oid in ids)))
        positions = self._positions(f)
        if not positions:
            return [await enf.call(f, label, _target(f), None, "no open position")]
        if name == "close_position":
            # concurrently, as a flatten: the third close does not wait for the first two
            return list(
                await asyncio.gather(*(enf.close(f, p.contract_id, label) for p in positions))
            )
        if name == "reduce_position":
            return await self._reduce(f, positions, a.number("to"), label)
        pos = positions[0]
        tick = st.tick_size(pos.symbol)
        ticks = Decimal(a.number("ticks"))
        if tick == 0:
            return [await enf.call(f, label, pos.contract_id, None, "unknown tick size")]
        sign = 1 if pos.long else -1
        if name == "attach_stop":
            return [await enf.protect(f, pos, label, pos.avg_price - sign * ticks * tick)]
        if name == "attach_target":
            return [await enf.target(f, pos, label, pos.avg_price + sign * ticks * tick)]
        if name == "trail_stop":
            return [await self._trail(f, pos, a, label, tick)]
        if name == "breakeven":
            return [await self._breakeven(f, pos, label, tick)]
        return [await enf.call(f, label, _target(f), None, f"unknown action {name}")]

    async def _trail(
        self, f: Firing, pos: Position, a: Action, label: str, tick: Decimal
    ) -> EnforcementRecord:
        enf, st = self.enforcer, self.state
        price = st.prices.get(pos.contract_id)
        after = a.number("after")
        if price is None:
            return await enf.call(f, label, pos.contract_id, None, "no price yet")
        if pos.view.unrealized_ticks < after:
            return await enf.call(f, label, pos.contract_id, None, f"not {after} ticks in profit")
        ticks = Decimal(a.number("ticks"))
        stop = price - ticks * tick if pos.long else price + ticks * tick
        return await enf.protect(f, pos, label, stop)

    async def _breakeven(
        self, f: Firing, pos: Position, label: str, tick: Decimal
    ) -> EnforcementRecord:
        """The stop to the entry, rounded to the tick on the safe side; once per position."""
        key = (pos.contract_id, pos.opened_at)
        live = {(p.contract_id, p.opened_at) for p in self.state.positions.values()}
        self._breakeven_done &= live  # forget closed positions
        if key in self._breakeven_done:
            return await self.enforcer.call(
                f, label, pos.contract_id, None, "already moved to breakeven"
            )
        steps = pos.avg_price / tick
        stop = (
            steps.to_integral_value(ROUND_CEILING if pos.long else ROUND_FLOOR) * tick
        ).quantize(tick)
        record = await self.enforcer.protect(f, pos, label, stop)
        if record.outcome != "failed":
            self._breakeven_done.add(key)
        return record

    async def _reduce(
        self, f: Firing, positions: list[Position], to: int, label: str
    ) -> list[EnforcementRecord]:
        """Reduce gross contracts to `to`, newest positions first."""
        enf = self.enforcer
        records: list[EnforcementRecord] = []
        # a position this event already closed (a stronger step) no longer counts or gets cut
        positions = [p for p in positions if not enf.close_sent(p.contract_id)]
        excess = sum(p.size for p in positions) - to
        for pos in sorted(positions, key=lambda p: p.opened_at, reverse=True):
            if excess <= 0:
                break
            cut = min(excess, pos.size)
            if cut == pos.size:
                records.append(await enf.close(f, pos.contract_id, label))
            else:
                records.append(await enf.reduce(f, pos, pos.size - cut))
            excess -= cut
        if not records:
            records.append(await enf.call(f, label, _target(f), None, f"already at most {to}"))
        return records

    def _positions(self, f: Firing) -> list[Position]:
        st = self.state
        if f.contract_id is not None:
            pos = st.positions.get(f.contract_id)
            return [pos] if pos is not None else []
        if f.symbol is not None:
            return [p for p in st.positions.values() if p.symbol == f.symbol]
        return list(st.positions.values())

    def _orders(self, f: Firing) -> list[int]:
        st = self.state
        if f.order_id is not None:
            return [f.order_id] if f.order_id in st.orders else []
        if f.contract_id is not None:
            return [i for i, o in st.orders.items() if o.contract_id == f.contract_id]
        if f.symbol is not None:
            return [i for i, o in st.orders.items() if o.symbol == f.symbol]
        return list(st.orders)


def until_text(lock: LockoutRecord, zone: dt.tzinfo) -> str:
    """`2026-03-02 17:00:00 CST`: on the ruleset's clock, as the trader reads it."""
    if lock.until_ts is None:
        return f"{lock.until_kind}"
    local = lock.until_ts.astimezone(zone)
    return f"{format_value(local, DATETIME)} {local.tzname()}"


def lockout_firing(
    lock: LockoutRecord,
    contract_id: str,
    symbol: str,
    event: Event | None,
    kind: str,
    now: dt.datetime,
    zone: dt.tzinfo,
    to: int = 0,
) -> Firing:
    """A firing of an active lockout: close what opened / cancel what was placed / reduce
    what grew (a reduce-only) back `to` contracts."""
    order_id = event.id if isinstance(event, OrderEvent) else None
    what, action = _POLICING[kind]
    scope = lock.symbol or "account"
    until = until_text(lock, zone)
    state = _STATE.get(lock.kind, "locked out")
    return Firing(
        rule_id=lock.rule_id,
        severity="critical",
        actions=(Action(action, {"to": to}) if kind == "reduce" else Action(action),),
        scope=Scope.ORDER if order_id is not None else Scope.POSITION,
        entity=contract_id,
        ts=now,
        received_ns=event.received_ns if event is not None else time.monotonic_ns(),
        message=f"{what} in {symbol} while {scope} is {state} until {until}",
        values={"lockout.until": _until_machine(lock), "lockout.scope": scope},
        shown={"lockout.until": until, "lockout.scope": scope},
        contract_id=None if order_id is not None else contract_id,
        symbol=symbol,
        order_id=order_id,
    )


# the actions that set a lockout (reserved first): they last, the others are one-off
LOCKING = frozenset(("lockout", "cooldown", "block_symbol", "pause", "reduce_only"))
_POLICING = {
    "close": ("a position opened", "close_position"),
    "cancel": ("an order was placed", "cancel_orders"),
    "reduce": ("a position grew", "reduce_position"),
}
_STATE = {LockoutKind.PAUSE: "paused", LockoutKind.REDUCE_ONLY: "reduce-only"}


def _target(f: Firing) -> str:
    if f.order_id is not None:
        return f"order:{f.order_id}"
    return f.contract_id or f.symbol or "account"


def _until_machine(lock: LockoutRecord) -> str:
    return lock.until_ts.isoformat() if lock.until_ts else f"{lock.until_kind}"
