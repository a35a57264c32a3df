"""An in-memory StateStore: for tests, `rmdsl test` and `rmdsl replay` (nothing touches disk)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from rmdsl.engine.persistence import (
    AccountStateRecord,
    AddLockout,
    CancelTimer,
    DayResultRecord,
    EnforcementRecord,
    LiftLockout,
    LockoutRecord,
    MetricSample,
    PersistedState,
    PositionRecord,
    RecordDay,
    RecordEnforcement,
    RecordMetrics,
    RecordTrade,
    RecordVersion,
    RemovePosition,
    ReplacePositions,
    ResetDay,
    RulesetVersionRecord,
    SaveAccount,
    StartTimer,
    TimerRecord,
    TradeRecord,
    UpsertPosition,
    Write,
)


class MemoryStore:
    """Implements rmdsl.engine.persistence.StateStore with dicts; `calls` logs each write."""

    def __init__(self) -> None:
        self.accounts: dict[int, AccountStateRecord] = {}  # the newest day's row
        self.days: dict[tuple[int, dt.date], AccountStateRecord] = {}  # every day's row
        self.trades: dict[tuple[int, int], TradeRecord] = {}
        self.day_results: dict[tuple[int, dt.date], DayResultRecord] = {}
        self.positions: dict[tuple[int, int], PositionRecord] = {}
        self.lockouts: dict[str, LockoutRecord] = {}
        self.timers: dict[tuple[int, str], TimerRecord] = {}
        self.enforcements: list[EnforcementRecord] = []
        self.versions: list[RulesetVersionRecord] = []
        self.metrics: list[MetricSample] = []
        self.backups: list[tuple[int, dt.date, dt.datetime]] = []
        self.calls: list[str] = []
        self.closed = False

    async def load(self, account_id: int) -> PersistedState:
        account = self.accounts.get(account_id)
        day = account.trading_day if account else None
        earlier = [d for (a, d) in self.days if a == account_id and day is not None and d < day]
        previous = self.days[(account_id, max(earlier))] if earlier else None
        return PersistedState(
            account=account,
            previous=previous,
            previous_trades=self._trades_of(account_id, previous.trading_day if previous else None),
            positions=tuple(p for (a, _), p in self.positions.items() if a == account_id),
            trades=self._trades_of(account_id, day),
            lockouts=tuple(
                lk
                for lk in self.lockouts.values()
                if lk.account_id == account_id and lk.lifted_at is None
            ),
            timers=tuple(t for (a, _), t in self.timers.items() if a == account_id),
            ruleset=self.versions[-1] if self.versions else None,
            days=tuple(
                r
                for (a, d), r in sorted(self.day_results.items())
                if a == account_id and day is not None and d < day
            ),
            recent_trades=tuple(
                sorted(
                    (
                        t
                        for (a, _), t in self.trades.items()
                        if a == account_id and day is not None and t.trading_day < day
                    ),
                    key=lambda t: (t.ts, t.trade_id),
                )
            ),
        )

    def _trades_of(self, account_id: int, day: dt.date | None) -> tuple[TradeRecord, ...]:
        found = [t for (a, _), t in self.trades.items() if a == account_id and t.trading_day == day]
        return tuple(sorted(found, key=lambda t: (t.ts, t.trade_id)))

    async def apply(self, writes: Sequence[Write]) -> None:
        """Each write through its own method, in order (`calls` shows them one by one)."""
        for write in writes:
            await self._apply_one(write)

    async def _apply_one(self, write: Write) -> None:
        match write:
            case SaveAccount(state):
                await self.save_account_state(state)
            case ResetDay(state):
                await self.reset_day(state)
            case RecordDay(day, keep_from):
                await self.record_day(day, keep_from)
            case RecordTrade(trade):
                await self.record_trade(trade)
            case UpsertPosition(position):
                await self.upsert_position(position)
            case RemovePosition(account_id, position_id):
                await self.remove_position(account_id, position_id)
            case ReplacePositions(account_id, positions):
                await self.replace_positions(account_id, positions)
            case AddLockout(lockout):
                await self.add_lockout(lockout)
            case LiftLockout(lockout_id, lifted_at):
                await self.lift_lockout(lockout_id, lifted_at)
            case StartTimer(timer):
                await self.start_timer(timer)
            case CancelTimer(account_id, key):
                await self.cancel_timer(account_id, key)
            case RecordEnforcement(record):
                await self.record_enforcement(record)
            case RecordVersion(version):
                await self.record_ruleset_version(version)
            case RecordMetrics(samples):
                await self.record_metrics(samples)

    async def save_account_state(self, state: AccountStateRecord) -> None:
        self.calls.append("save_account_state")
        self._save(state)

    def _save(self, state: AccountStateRecord) -> None:
        """One row per (account, day) as in SQLite; a late fill may rewrite an older day's."""
        self.days[(state.account_id, state.trading_day)] = state
        newest = self.accounts.get(state.account_id)
        if newest is None or state.trading_day >= newest.trading_day:
            self.accounts[state.account_id] = state

    async def record_trade(self, trade: TradeRecord) -> None:
        self.calls.append("record_trade")
        self.trades[(trade.account_id, trade.trade_id)] = trade

    async def record_day(self, day: DayResultRecord, keep_from: dt.date) -> None:
        self.calls.append("record_day")
        self.day_results[(day.account_id, day.trading_day)] = day
        for key in [k for k in self.day_results if k[0] == day.account_id and k[1] < keep_from]:
            del self.day_results[key]

    async def upsert_position(self, position: PositionRecord) -> None:
        self.calls.append("upsert_position")
        self.positions[(position.account_id, position.position_id)] = position

    async def remove_position(self, account_id: int, position_id: int) -> None:
        self.calls.append("remove_position")
        self.positions.pop((account_id, position_id), None)

    async def replace_positions(self, account_id: int, positions: Sequence[PositionRecord]) -> None:
        self.calls.append("replace_positions")
        for key in [k for k in self.positions if k[0] == account_id]:
            del self.positions[key]
        for p in positions:
            self.positions[(account_id, p.position_id)] = p

    async def add_lockout(self, lockout: LockoutRecord) -> None:
        self.calls.append("add_lockout")
        self.lockouts[lockout.id] = lockout

    async def lift_lockout(self, lockout_id: str, lifted_at: dt.datetime) -> None:
        self.calls.append("lift_lockout")
        lk = self.lockouts.get(lockout_id)
        if lk is not None:
            self.lockouts[lockout_id] = replace(lk, lifted_at=lifted_at)

    async def start_timer(self, timer: TimerRecord) -> None:
        self.calls.append("start_timer")
        self.timers[(timer.account_id, timer.key)] = timer

    async def cancel_timer(self, account_id: int, key: str) -> None:
        self.calls.append("cancel_timer")
        self.timers.pop((account_id, key), None)

    async def record_enforcement(self, record: EnforcementRecord) -> None:
        self.calls.append("record_enforcement")
        self.enforcements.append(record)

    async def record_ruleset_version(self, version: RulesetVersionRecord) -> None:
        self.calls.append("record_ruleset_version")
        self.versions.append(version)

    async def record_metrics(self, samples: Sequence[MetricSample]) -> None:
        self.calls.append("record_metrics")
        self.metrics.extend(samples)

    async def before_reset(
        self, account_id: int, trading_day: dt.date, reset_at: dt.datetime
    ) -> None:
        self.calls.append("before_reset")
        self.backups.append((account_id, trading_day, reset_at))

    async def reset_day(self, state: AccountStateRecord) -> None:
        self.calls.append("reset_day")
        self._save(state)

    async def enforcement_history(
        self, account_id: int, limit: int = 100
    ) -> list[EnforcementRecord]:
        rows = [r for r in self.enforcements if r.account_id == account_id]
        return rows[::-1][:limit]

    async def close(self) -> None:
        self.closed = True
