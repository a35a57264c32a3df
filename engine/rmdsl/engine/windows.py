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
from array import array
from collections.abc import Mapping
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


def tally(fills: Mapping[int, Fill]) -> DayView:
    """A day's realized counters from its fills, in trade time (a closed day's late fill)."""
    day = DayView()
    for _, (_, gross, voided, ours, fees) in sorted(fills.items(), key=_trade_time):
        if not voided:
            count(day, gross, fees, not ours)
    return day


def _trade_time(item: tuple[int, Fill]) -> tuple[dt.datetime, int]:
    return item[1][0], item[0]


class FillWindow:
    """The fills in time order with prefix sums: a trailing window's count or P&L is two
    lookups. Held as machine integers (`array`), ~40 bytes a fill: the P&L as an integer
    number of units of 10**-places (a cent until a finer value comes; then every sum is
    made finer), read back as a Decimal of exactly that value (docs/performance.md,
    "Cheaper fills of the day (r14k)")."""

    __slots__ = ("_fills", "_losses", "_ms", "_places", "_pnl", "_trades")

    def __init__(self) -> None:
        self._ms = array("q")  # epoch ms of each fill, ascending
        self._fills = array("q")  # prefix sums: the trader's fills up to and including i
        self._trades = array("q")  # prefix sums: the trader's closing fills
        self._losses = array("q")
        # prefix sums of the net P&L in units of 10**-_places; a list only past 64 bits
        self._pnl: array[int] | list[int] = array("q")
        self._places = 2

    def __len__(self) -> int:
        return len(self._ms)

    def clear(self) -> None:
        for seq in (self._ms, self._fills, self._trades, self._losses, self._pnl):
            del seq[:]

    def add(self, ms: int, net: Decimal, is_close: bool, own: bool = True) -> None:
        """One fill and its net P&L (an opening fill's is -fees); `own` False for rmdsl's
        close: its P&L counts, it is not a trade."""
        units = self._units(net)
        closing = own and is_close
        times = self._ms
        if not times or ms >= times[-1]:  # in time order, as almost every fill: appends
            self._append(ms, units, int(own), int(closing), int(closing and net < 0))
            return
        i = bisect.bisect_right(times, ms)
        late = i < len(times)
        times.insert(i, ms)
        for seq, step in (
            (self._fills, int(own)),
            (self._trades, int(closing)),
            (self._losses, int(closing and net < 0)),
        ):
            seq.insert(i, (seq[i - 1] if i else 0) + step)
            if late and step:  # a late fill: every later prefix sum counts it too
                seq[i + 1 :] = array("q", [x + step for x in seq[i + 1 :]])
        self._insert_sum(i, units)

    def _append(self, ms: int, units: int, own: int, closing: int, loss: int) -> None:
        n = len(self._ms)
        self._ms.append(ms)
        for seq, step in ((self._fills, own), (self._trades, closing), (self._losses, loss)):
            seq.append(seq[-1] + step if n else step)
        pnl = self._pnl
        total = pnl[-1] + units if n else units
        try:
            pnl.append(total)
        except OverflowError:  # past 64 bits: Python's integers from now on
            self._pnl = pnl = list(pnl)
            pnl.append(total)

    def _units(self, net: Decimal) -> int:
        """net in the window's units; a finer value first makes every sum finer."""
        scaled = net.scaleb(self._places)
        units = int(scaled)
        if units == scaled:
            return units
        exp = net.as_tuple().exponent
        assert isinstance(exp, int), "a fill's P&L is a finite number"
        factor = 10 ** (-exp - self._places)
        self._places = -exp
        self._pnl = _sums([x * factor for x in self._pnl])
        return int(net.scaleb(self._places))

    def _insert_sum(self, i: int, units: int) -> None:
        """The P&L prefix sum at i, and every later one shifted by units."""
        pnl = self._pnl
        head = pnl[i - 1] if i else 0
        later = [head + units, *(x + units for x in pnl[i:])]
        block = _sums(later) if isinstance(pnl, array) else later
        if isinstance(block, list) and isinstance(pnl, array):
            self._pnl = pnl = list(pnl)  # past 64 bits: Python's integers from now on
        pnl[i:] = block  # type: ignore[assignment]

    def start(self, since_ms: int, inclusive: bool = False) -> int:
        """Index of the first fill after since_ms (at or after it when inclusive)."""
        find = bisect.bisect_left if inclusive else bisect.bisect_right
        return find(self._ms, since_ms)

    def fills(self, start: int) -> int:
        return _since(self._fills, start)

    def trades(self, start: int) -> int:
        return _since(self._trades, start)

    def losses(self, start: int) -> int:
        return _since(self._losses, start)

    def pnl(self, start: int) -> Decimal:
        return Decimal(_since(self._pnl, start)).scaleb(-self._places)


def _since(sums: array[int] | list[int], start: int) -> int:
    """What the prefix sums add from index start to the end."""
    if not sums:
        return 0
    return sums[-1] - (sums[start - 1] if start > 0 else 0)


def _sums(values: list[int]) -> array[int] | list[int]:
    """Prefix sums as 64-bit integers, or as the list itself when one does not fit."""
    try:
        return array("q", values)
    except OverflowError:
        return values
