"""The ruleset in force and the trading day it defines: what a reset and a hot reload change.

One small object that the engine's parts share instead of the Engine: the
executor reads the ruleset's timezone from it, the fill book (daybook.py) the
day a fill counts in, restore the record of the day's counters. A hot reload
swaps the ruleset here, so every part follows it at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from rmdsl.engine import params
from rmdsl.engine.persistence import AccountStateRecord, RulesetVersionRecord
from rmdsl.engine.state import AccountState
from rmdsl.engine.tradingday import Calendar
from rmdsl.rules.model import Ruleset

FAR = dt.datetime.max.replace(tzinfo=dt.UTC)
_TICK = dt.timedelta(microseconds=1)


@dataclass(slots=True)
class Today:
    ruleset: Ruleset
    calendar: Calendar
    trading_day: dt.date | None = None
    next_reset: dt.datetime = FAR
    closed_day: AccountStateRecord | None = None  # the previous day: late fills land there
    deferred_params: dict[str, object] = field(default_factory=dict)  # loosened: wait for reset
    # the last params record and what it was made of: every fill saves the account's row, and
    # formatting the params each time was ~15 us of a fill's step for the same text
    _params: tuple[tuple[object, ...], dict[str, Any]] | None = field(default=None, init=False)

    @classmethod
    def of(cls, ruleset: Ruleset) -> Today:
        return cls(ruleset, Calendar.of(ruleset))

    @property
    def zone(self) -> dt.tzinfo:
        """The ruleset's timezone: alerts and messages give times on the trader's clock."""
        return self.ruleset.timezone

    def begin(self, at: dt.datetime) -> None:
        """The trading day of `at` is the current one; its reset is the next."""
        self.trading_day = self.calendar.trading_day(at)
        self.next_reset = self.calendar.next_reset(at)

    def ending(self, at: dt.datetime) -> dt.date:
        """The trading day a reset at `at` ends."""
        return self.trading_day or self.calendar.trading_day(at - _TICK)

    def close(self, at: dt.datetime, st: AccountState) -> None:
        """Remember the day the reset at `at` ends (late fills land in it), before the state's
        counters are cleared; the next day begins and the file's params apply again."""
        self.closed_day = self.account_record(st, self.calendar.last_reset(at - _TICK))
        self.deferred_params.clear()
        self.begin(at)

    def use(self, ruleset: Ruleset, deferred: dict[str, object], now: dt.datetime) -> None:
        """A hot reload: the new ruleset and its calendar; loosened params wait."""
        self.ruleset = ruleset
        self.calendar = Calendar.of(ruleset)
        self.deferred_params = deferred
        self.next_reset = self.calendar.next_reset(now)

    def account_record(
        self, st: AccountState, last_reset: dt.datetime | None = None
    ) -> AccountStateRecord:
        """The day's counters and the params in force, as persisted."""
        day, account = st.ctx.day, st.ctx.account
        return AccountStateRecord(
            account_id=st.account_id,
            trading_day=self.trading_day or self.calendar.trading_day(st.now),
            realized_pnl=day.realized_pnl,
            unrealized_pnl=day.unrealized_pnl,
            peak_pnl=day.peak_pnl,
            trades=day.trades,
            wins=day.wins,
            losses=day.losses,
            consecutive_losses=day.consecutive_losses,
            last_reset=last_reset or self.calendar.last_reset(st.now),
            updated_at=st.now,
            balance=account.balance,
            account_name=account.name,
            params=self._params_record(st.ctx.params),
            eod_high=account.eod_high,
            mll=account.mll,
            net=account.net if st.account_model.balance_known else None,
        )

    def _params_record(self, in_force: dict[str, object]) -> dict[str, Any]:
        """params.to_record of the params in force, made again only when the ruleset (a
        reload), a value in force or waiting, or the reset it waits for has changed (values
        compared by ==: an equal value written otherwise, 1.0 for 1.00, reads back equal)."""
        made = (self.ruleset, tuple(in_force.items()), *self.deferred_params.items())
        made += (self.next_reset,)
        known = self._params
        if known is not None and known[0][0] is made[0] and known[0][1:] == made[1:]:
            return known[1]
        record = params.to_record(self.ruleset, in_force, self.deferred_params, self.next_reset)
        self._params = (made, record)
        return record

    def version(self, now: dt.datetime, account_id: int) -> RulesetVersionRecord:
        r = self.ruleset
        return RulesetVersionRecord(
            r.digest, r.name, r.path, now, r.files, account_id, r.timezone.key
        )
