"""Today's fills: the day's counters (`count`, `tally`) and, in time order with prefix sums,
the trailing-window counts in O(log n) (`FillWindow`).

Backs the language's day.* counters, fills(d), trades(d), losses(d), pnl(d) and
session.fills. Money is net: the gateway's gross profitAndLoss minus the fees
of every fill, opening fills included (docs/language.md, "Net P&L").
Fills arrive in time order almost always (an append); a late one is inserted
and the sums after it rebuilt. The counts are of the trader's own fills; the
P&L is the net of every fill (gross - fees, opening fills' fees included),
rmdsl's closes included (docs/rules.md, "Whose trades").
"""

from __future__ import annotations

import bisect
import datetime as dt
from decimal import Decimal

from rmdsl.lang.context import DayView

ZERO = Decimal(0)

# one fill of the day: (ts, the gateway's gross profitAndLoss or None for an opening fill,
# voided, by rmdsl, the fill's fees)
type Fill = tuple[dt.datetime, Decimal | None, bool, bool, Decimal]


def count(day: DayView, gross: Decimal | None, fees: Decimal = ZERO, own: bool = True) -> None:
    """One fill into the day's counters. Its net money (gross - fees: an opening fill's is
    -fees) always counts; a closing fill of the trader's is also a trade, won when its net
    is above 0 and lost below (docs/language.md, "Net P&L": a scratch exit is a fee-sized
    loss; the opening fill's fees count in the day, not in the close's win or loss)."""
    net = (gross if gross is not None else ZERO) - fees
    day.fees += fees
    day.realized_pnl += net  # money is money: rmdsl's closes count in every loss limit
    if gross is None:
        return
    day.gross_pnl += gross
    if not own:
        return  # ...but they are no trade of the trader's: no streak, win or loss
    day.trades += 1
    if net > 0:
        day.wins += 1
        day.consecutive_losses = 0
    elif net < 0:
        day.losses += 1
        day.consecutive_losses += 1


def tally(fills: dict[int, Fill]) -> DayView:
    """A day's realized counters from its fills, in trade time (a closed day's late fill)."""
    day = DayView()
    for trade_id in sorted(fills, key=lambda i: (fills[i][0], i)):
        _, gross, voided, ours, fees = fills[trade_id]
        if not voided:
            count(day, gross, fees, not ours)
    return day


class FillWindow:
    __slots__ = ("_fills", "_losses", "_ms", "_pnl", "_trades")

    def __init__(self) -> None:
        self._ms: list[int] = []  # epoch ms of each fill, ascending
        self._fills: list[int] = []  # prefix sums: the trader's fills up to and including i
        self._trades: list[int] = []  # prefix sums: the trader's closing fills
        self._losses: list[int] = []
        self._pnl: list[Decimal] = []

    def __len__(self) -> int:
        return len(self._ms)

    def clear(self) -> None:
        for seq in (self._ms, self._fills, self._trades, self._losses, self._pnl):
            seq.clear()

    def add(self, ms: int, net: Decimal, is_close: bool, own: bool = True) -> None:
        """One fill and its net P&L (an opening fill's is -fees); `own` False for rmdsl's
        close: its P&L counts, it is not a trade."""
        i = bisect.bisect_right(self._ms, ms)
        self._ms.insert(i, ms)
        closing = own and is_close
        loss = closing and net < 0
        value = net
        if i == len(self._trades):
            self._fills.append(self._at(self._fills, i - 1, 0) + own)
            self._trades.append(self._at(self._trades, i - 1, 0) + closing)
            self._losses.append(self._at(self._losses, i - 1, 0) + loss)
            self._pnl.append(self._at(self._pnl, i - 1, ZERO) + value)
            return
        # a late fill: shift every later prefix sum by its contribution
        self._fills.insert(i, self._at(self._fills, i - 1, 0) + own)
        self._trades.insert(i, self._at(self._trades, i - 1, 0) + closing)
        self._losses.insert(i, self._at(self._losses, i - 1, 0) + loss)
        self._pnl.insert(i, self._at(self._pnl, i - 1, ZERO) + value)
        for j in range(i + 1, len(self._ms)):
            self._fills[j] += own
            self._trades[j] += closing
            self._losses[j] += loss
            self._pnl[j] += value

    @staticmethod
    def _at[T](seq: list[T], i: int, zero: T) -> T:
        return seq[i] if i >= 0 else zero

    def start(self, since_ms: int, inclusive: bool = False) -> int:
        """Index of the first fill after since_ms (at or after it when inclusive)."""
        find = bisect.bisect_left if inclusive else bisect.bisect_right
        return find(self._ms, since_ms)

    def fills(self, start: int) -> int:
        return self._at(self._fills, len(self._ms) - 1, 0) - self._at(self._fills, start - 1, 0)

    def trades(self, start: int) -> int:
        return self._at(self._trades, len(self._ms) - 1, 0) - self._at(self._trades, start - 1, 0)

    def losses(self, start: int) -> int:
        return self._at(self._losses, len(self._ms) - 1, 0) - self._at(self._losses, start - 1, 0)

    def pnl(self, start: int) -> Decimal:
        end = self._at(self._pnl, len(self._ms) - 1, ZERO)
        return end - self._at(self._pnl, start - 1, ZERO)
