"""Every single-write method of StateStore as a batch of one, for stores built on `apply`.

The StateStore protocol (rmdsl.engine.persistence) has a method per kind of
write and one `apply(writes)` for a batch. A store whose `apply` is the real
thing (SqliteStore: one transaction; WriteBehind: into the open batch) gets
the single-write methods here, so the mapping method -> Write is written once.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence

from rmdsl.engine import persistence as p


class SingleWrites(ABC):
    """The single-write half of StateStore, each method `apply((its p.Write,))`."""

    @abstractmethod
    async def apply(self, writes: Sequence[p.Write]) -> None: ...

    async def save_account_state(self, state: p.AccountStateRecord) -> None:
        await self.apply((p.SaveAccount(state),))

    async def reset_day(self, state: p.AccountStateRecord) -> None:
        await self.apply((p.ResetDay(state),))

    async def record_trade(self, trade: p.TradeRecord) -> None:
        await self.apply((p.RecordTrade(trade),))

    async def record_day(self, day: p.DayResultRecord, keep_from: dt.date) -> None:
        await self.apply((p.RecordDay(day, keep_from),))

    async def upsert_position(self, position: p.PositionRecord) -> None:
        await self.apply((p.UpsertPosition(position),))

    async def remove_position(self, account_id: int, position_id: int) -> None:
        await self.apply((p.RemovePosition(account_id, position_id),))

    async def replace_positions(
        self, account_id: int, positions: Sequence[p.PositionRecord]
    ) -> None:
        await self.apply((p.ReplacePositions(account_id, tuple(positions)),))

    async def add_lockout(self, lockout: p.LockoutRecord) -> None:
        await self.apply((p.AddLockout(lockout),))

    async def lift_lockout(self, lockout_id: str, lifted_at: dt.datetime) -> None:
        await self.apply((p.LiftLockout(lockout_id, lifted_at),))

    async def start_timer(self, timer: p.TimerRecord) -> None:
        await self.apply((p.StartTimer(timer),))

    async def cancel_timer(self, account_id: int, key: str) -> None:
        await self.apply((p.CancelTimer(account_id, key),))

    async def record_enforcement(self, record: p.EnforcementRecord) -> None:
        await self.apply((p.RecordEnforcement(record),))

    async def record_ruleset_version(self, version: p.RulesetVersionRecord) -> None:
        await self.apply((p.RecordVersion(version),))

    async def record_metrics(self, samples: Sequence[p.MetricSample]) -> None:
        if samples:  # nothing sampled: no write, no transaction
            await self.apply((p.RecordMetrics(tuple(samples)),))
