"""Lockouts and symbol blocks: (action, now, calendar) -> LockoutRecord; expiry by virtual clock.

While a lockout is active the engine closes any position that opens and
cancels any new order at once (block_symbol: the same for one symbol).
An account lockout has symbol None. Lockouts end by time, or (`until:
can_trade`) when the gateway reports the account can trade again: never by a
reload or a failure.

A pause (`pause(until: ...)`, docs/decisions.md D7) is an account lockout
without the flatten: exposure that existed when it started is kept, a
position that opens later is closed and a new order is cancelled unless it
closes an open position. Its record says so: LockoutRecord.kind is PAUSE.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace

from rmdsl.engine.persistence import LockoutKind, LockoutRecord, UntilKindRecord
from rmdsl.engine.tradingday import Calendar
from rmdsl.lang.schema import UntilKind
from rmdsl.rules.model import ClockTime, Until

_FAR = dt.datetime.max.replace(tzinfo=dt.UTC)


def is_pause(rec: LockoutRecord) -> bool:
    return rec.kind is LockoutKind.PAUSE


def lockout_kind(symbol: str | None, pause: bool, reduce_only: bool = False) -> LockoutKind:
    if reduce_only:
        return LockoutKind.REDUCE_ONLY
    if pause:
        return LockoutKind.PAUSE
    return LockoutKind.LOCKOUT if symbol is None else LockoutKind.SYMBOL_BLOCK


def until_instant(
    until: Until, now: dt.datetime, calendar: Calendar
) -> tuple[dt.datetime | None, UntilKindRecord]:
    """When a lockout set now with `until` ends (None: not by time), and the kind to persist."""
    if until is UntilKind.CAN_TRADE:
        return None, UntilKindRecord.CAN_TRADE
    if until is UntilKind.RESET:
        return calendar.next_reset(now), UntilKindRecord.RESET
    if until is UntilKind.SESSION_START:
        return calendar.next_session_start(now), UntilKindRecord.SESSION_START
    if isinstance(until, ClockTime):
        return calendar.next_wall_time(now, until.time), UntilKindRecord.CLOCK
    return now + dt.timedelta(milliseconds=until), UntilKindRecord.DURATION


class Lockouts:
    """The active lockouts of one account."""

    def __init__(self) -> None:
        self.active: dict[str, LockoutRecord] = {}
        self.next_expiry = _FAR  # the earliest end by time of an active lockout
        # active ones a longer one of the same rule extended instead: lifted, rows to update
        self.superseded: list[LockoutRecord] = []

    def restore(self, records: tuple[LockoutRecord, ...]) -> None:
        for rec in records:
            if rec.lifted_at is None:
                self.active[rec.id] = rec
        self._recompute()

    def add(
        self,
        *,
        account_id: int,
        rule_id: str,
        symbol: str | None,
        until: Until,
        now: dt.datetime,
        calendar: Calendar,
        reason: str = "",
        pause: bool = False,
        reduce_only: bool = False,
    ) -> tuple[LockoutRecord, bool]:
        """A new lockout, or the active one that already covers it. The bool: newly added.

        A pause is covered by a lockout or pause, a reduce-only by a lockout or reduce-only;
        a lockout only by a lockout (it flattens).
        Of several that cover it, the one that lasts longest is returned: the trader is told
        the real end, not a 30m cooldown inside a lockout until the reset.
        """
        until_ts, kind = until_instant(until, now, calendar)
        lock_kind = lockout_kind(symbol, pause, reduce_only)
        covering: LockoutRecord | None = None
        for rec in self.active.values():
            if rec.symbol != symbol or rec.kind not in (lock_kind, LockoutKind.LOCKOUT):
                continue
            if kind is UntilKindRecord.CAN_TRADE and rec.until_kind is kind:
                return rec, False
            if until_ts is not None and rec.until_ts is not None and rec.until_ts >= until_ts:
                if covering is None or (covering.until_ts or until_ts) < rec.until_ts:
                    covering = rec
        if covering is not None:
            return covering, False
        rec = self._extending(
            LockoutRecord(
                id=uuid.uuid4().hex,
                account_id=account_id,
                symbol=symbol,
                rule_id=rule_id,
                until_ts=until_ts,
                until_kind=kind,
                created_at=now,
                reason=reason,
                kind=lock_kind,
            )
        )
        self.active[rec.id] = rec
        self._recompute()
        return rec, True

    def _extending(self, rec: LockoutRecord) -> LockoutRecord:
        """`rec`, or `rec` as the extension of the active lockouts of the same rule, scope
        and kind that it outlasts: it takes the id and the start of the oldest of them, and
        the others (restored from an older daemon's rows) are lifted.

        A frequency rule pausing on every fill otherwise kept one record per fill for its 30
        minutes (docs/performance.md, "Cheaper fills of the day (r14k)"). The id stays: an
        enforcement goal that stands while its lockout is active (a close being retried)
        stands on. The start stays: the account has been paused since then, and a pause
        polices what opened after its start. A reduce-only is never merged (its caps are
        its own), nor a lockout without an end by time."""
        if rec.until_ts is None or rec.kind is LockoutKind.REDUCE_ONLY:
            return rec
        until = rec.until_ts
        same = sorted(
            (
                r
                for r in self.active.values()
                if (r.rule_id, r.symbol, r.kind) == (rec.rule_id, rec.symbol, rec.kind)
                and r.until_ts is not None
                and r.until_ts < until
            ),
            key=lambda r: r.created_at,
        )
        if not same:
            return rec
        for old in same[1:]:
            del self.active[old.id]
            self.superseded.append(_lifted(old, rec.created_at))
        return replace(rec, id=same[0].id, created_at=same[0].created_at)

    def take_superseded(self) -> list[LockoutRecord]:
        """The lockouts `add` lifted since the last call (their rows get lifted_at)."""
        out, self.superseded = self.superseded, []
        return out

    def blocking(
        self, symbol: str, since: dt.datetime | None = None, skip: frozenset[str] = frozenset()
    ) -> LockoutRecord | None:
        """The lockout that forbids exposure in `symbol` now: the account's that lasts
        longest (the trader is told the real end: a 30m cooldown inside a lockout until the
        reset is not it), else a block, else a pause that started before the exposure
        appeared at `since`. The lockouts whose ids are in `skip` are not counted."""
        account: LockoutRecord | None = None
        found: LockoutRecord | None = None
        paused: LockoutRecord | None = None
        for rec in self.active.values():
            if rec.id in skip or rec.kind is LockoutKind.REDUCE_ONLY:
                continue  # a reduce-only is policed by rmdsl.engine.reduceonly
            if is_pause(rec):
                if since is not None and since > rec.created_at:
                    paused = paused or rec
            elif rec.symbol is None:
                if account is None or _end(rec) > _end(account):
                    account = rec
            elif rec.symbol == symbol:
                found = rec
        return account or found or paused

    @property
    def account_locked(self) -> bool:
        return any(rec.kind is LockoutKind.LOCKOUT for rec in self.active.values())

    @property
    def paused(self) -> bool:
        return any(is_pause(rec) for rec in self.active.values())

    def expire(self, now: dt.datetime) -> list[LockoutRecord]:
        """Lift every lockout whose end has come; returns them with lifted_at set."""
        if now < self.next_expiry:
            return []
        lifted: list[LockoutRecord] = []
        for key, rec in list(self.active.items()):
            if rec.until_ts is not None and rec.until_ts <= now:
                del self.active[key]
                lifted.append(_lifted(rec, now))
        self._recompute()
        return lifted

    def lift_can_trade(self, now: dt.datetime) -> list[LockoutRecord]:
        """The gateway says the account can trade again: lift the `until: can_trade` ones."""
        lifted = [r for r in self.active.values() if r.until_kind is UntilKindRecord.CAN_TRADE]
        for rec in lifted:
            del self.active[rec.id]
        return [_lifted(rec, now) for rec in lifted]

    def _recompute(self) -> None:
        ends = [r.until_ts for r in self.active.values() if r.until_ts is not None]
        self.next_expiry = min(ends, default=_FAR)


def _end(rec: LockoutRecord) -> dt.datetime:
    return _FAR if rec.until_ts is None else rec.until_ts  # can_trade: no end by time


def _lifted(rec: LockoutRecord, now: dt.datetime) -> LockoutRecord:
    return replace(rec, lifted_at=now)
