"""The row of one closed trading day (rmdsl.engine.history, the `day_results` table): a record
of the persistence protocol (rmdsl.engine.persistence re-exports it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class DayResultRecord:
    """One closed trading day's result (rmdsl.engine.history): the week, days(N) and the
    account's end-of-day high read these after a restart. Bounded: KEEP_DAYS per account."""

    account_id: int
    trading_day: dt.date
    gross_pnl: Decimal = ZERO  # the gateway's profitAndLoss of the day's closing fills
    fees: Decimal = ZERO  # of every fill of the day
    realized_pnl: Decimal = ZERO  # net: gross_pnl - fees
    trades: int = 0  # the trader's closing fills
    eod_balance: Decimal | None = None  # the balance at the reset that closed it (if known)
    eod_high: Decimal | None = None  # account.eod_high after that reset
