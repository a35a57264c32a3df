"""An in-memory StateStore: for tests, `rmdsl test` and `rmdsl replay` (nothing touches disk)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from rmdsl.engine import persistence as ps
from rmdsl.engine.single_writes import SingleWrites

# the StateStore method of each kind of write: what `calls` logs
_METHOD: dict[type[ps.Write], str] = {
    ps.SaveAccount: "save_account_state",
    ps.ResetDay: "reset_day",
    ps.RecordTrade: "record_trade",
    ps.RecordDay: "record_day",
    ps.UpsertPosition: "upsert_position",
    ps.RemovePosition: "remove_position",
    ps.ReplacePositions: "replace_positions",
    ps.AddLockout: "add_lockout",
    ps.LiftLockout: "lift_lockout",
    ps.StartTimer: "start_timer",
    ps.CancelTimer: "cancel_timer",
    ps.RecordEnforcement: "record_enforcement",
    ps.RecordVersion: "record_ruleset_version",
    ps.RecordMetrics: "record_metrics",
}


class MemoryStore(SingleWrites):
    """Implements rmdsl.engine.persistence.StateStore with dicts; `calls` logs each write."""

    def __init__(self) -> None:
        self.accounts: dict[int, ps.AccountStateRecord] = {}  # the newest day's row
        self.days: dict[tuple[int, dt.date], ps.AccountStateRecord] = {}  # every day's row
        self.trades: dict[tuple[int, int], ps.TradeRecord] = {}
        self.day_results: dict[tuple[int, dt.date], ps.DayResultRecord] = {}
        self.positions: dict[tuple[int, int], ps.PositionRecord] = {}
        self.lockouts: dict[str, ps.LockoutRecord] = {}
        self.timers: dict[tuple[int, str], ps.TimerRecord] = {}
        self.enforcements: list[ps.EnforcementRecord] = []
        self.versions: list[ps.RulesetVersionRecord] = []
        self.metrics: list[ps.MetricSample] = []
        self.backups: list[tuple[int, dt.date, dt.datetime]] = []
        self.calls: list[str] = []
        self.closed = False

    async def load(self, account_id: int) -> ps.PersistedState:
        account = self.accounts.get(account_id)
        day = account.trading_day if account else None
        earlier = [d for (a, d) in self.days if a == account_id and day is not None and d < day]
        previous = self.days[(account_id, max(earlier))] if earlier else None
        return ps.PersistedState(
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

    def _trades_of(self, account_id: int, day: dt.date | None) -> tuple[ps.TradeRecord, ...]:
        found = [t for (a, _), t in self.trades.items() if a == account_id and t.trading_day == day]
        return tuple(sorted(found, key=lambda t: (t.ts, t.trade_id)))

    async def apply(self, writes: Sequence[ps.Write]) -> None:
        """Each write in order; `calls` names each by its StateStore method."""
        for write in writes:
            self.calls.append(_METHOD[type(write)])
            self._apply_one(write)

    def _apply_one(self, write: ps.Write) -> None:
        match write:
            case ps.SaveAccount(state) | ps.ResetDay(state):
                self._save(state)
            case ps.RecordTrade(trade):
                self.trades[(trade.account_id, trade.trade_id)] = trade
            case ps.RecordDay(result, keep_from):
                self.day_results[(result.account_id, result.trading_day)] = result
                for old in [
                    k for k in self.day_results if k[0] == result.account_id and k[1] < keep_from
                ]:
                    del self.day_results[old]
            case ps.UpsertPosition(position):
                self.positions[(position.account_id, position.position_id)] = position
            case ps.RemovePosition(account_id, position_id):
                self.positions.pop((account_id, position_id), None)
            case ps.ReplacePositions(account_id, positions):
                for key in [k for k in self.positions if k[0] == account_id]:
                    del self.positions[key]
                self.positions.update({(account_id, p.position_id): p for p in positions})
            case ps.AddLockout(lockout):
                self.lockouts[lockout.id] = lockout
            case ps.LiftLockout(lockout_id, lifted_at) if lockout_id in self.lockouts:
                self.lockouts[lockout_id] = replace(self.lockouts[lockout_id], lifted_at=lifted_at)
            case ps.StartTimer(timer):
                self.timers[(timer.account_id, timer.key)] = timer
            case ps.CancelTimer(account_id, key):
                self.timers.pop((account_id, key), None)
            case ps.RecordEnforcement(record):
                self.enforcements.append(record)
            case ps.RecordVersion(version):
                self.versions.append(version)
            case ps.RecordMetrics(samples):
                self.metrics.extend(samples)

    def _save(self, state: ps.AccountStateRecord) -> None:
        """One row per (account, day) as in SQLite; a late fill may rewrite an older day's."""
        self.days[(state.account_id, state.trading_day)] = state
        newest = self.accounts.get(state.account_id)
        if newest is None or state.trading_day >= newest.trading_day:
            self.accounts[state.account_id] = state

    async def before_reset(
        self, account_id: int, trading_day: dt.date, reset_at: dt.datetime
    ) -> None:
        self.calls.append("before_reset")
        self.backups.append((account_id, trading_day, reset_at))

    async def enforcement_history(
        self, account_id: int, limit: int = 100
    ) -> list[ps.EnforcementRecord]:
        rows = [r for r in self.enforcements if r.account_id == account_id]
        return rows[::-1][:limit]

    async def close(self) -> None:
        self.closed = True
