"""Trading days before today: week.*, days(N).* and trailing windows that reach past the reset.

Today's counters live in the DayView (rmdsl.engine.state); what closed before the
last reset lives here, bounded (docs/engine.md, "Day history"):

* the result of each of the last KEEP_DAYS trading days (net, gross, fees,
  trades), from which `week.*` and `days(N).*` add up the closed days in O(1)
  per evaluation (prefix sums, recomputed once a day);
* the fills of the closed days that a trailing window of at most WINDOW_DAYS can
  reach, so that `pnl(7d)` really covers seven days across resets and restarts.

A window longer than what is kept is a check error (RM169), and at run time (a
window computed from state) a rule error: never a silently shorter sum.
"""

from __future__ import annotations

import bisect
import datetime as dt
from array import array
from collections.abc import Iterable, Iterator
from decimal import Decimal

from rmdsl.engine.compact import decode, encode
from rmdsl.engine.persistence import DayResultRecord
from rmdsl.engine.tradingday import Calendar, reset_instant, wall_to_utc
from rmdsl.engine.windows import FillWindow
from rmdsl.lang.context import EvalContext
from rmdsl.lang.horizon import HISTORY_DAYS, WINDOW_DAYS, WINDOW_MS
from rmdsl.rules.model import WeekStart

ZERO = Decimal(0)
# trading days of results kept (today included) and days of fills kept for the windows
KEEP_DAYS, WINDOW_DAYS, MAX_WINDOW_MS = HISTORY_DAYS, WINDOW_DAYS, WINDOW_MS
_ONE_DAY = dt.timedelta(days=1)
_MAX_WALK = 800  # calendar days walked back looking for trading days (an empty schedule)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)

# a closed day's fill as the windows need it: (epoch ms, net P&L, closing, the trader's own)
type PastFill = tuple[int, Decimal, bool, bool]


def epoch_ms(ts: dt.datetime) -> int:
    return (ts - _EPOCH) // _MS


class WindowTooLong(ValueError):
    """A window longer than the history kept: a rule error, never a shorter sum."""


class DayHistory:
    """The closed days of one account (see the module docstring)."""

    def __init__(self, ctx: EvalContext) -> None:
        self._ctx = ctx
        self.days: list[DayResultRecord] = []  # closed days, oldest first, today excluded
        self._dates: list[dt.date] = []
        self._sums: list[Decimal] = [ZERO]  # _sums[i]: realized_pnl of days[:i]
        self._fills = PastFills()  # closed days' fills by trade id
        self.past = FillWindow()  # the same, in time order with prefix sums
        self.until_ms = 0  # the past holds fills before this instant (the last reset)
        self.calendar: Calendar | None = None
        self.week_start = WeekStart()
        self.today = dt.date(1970, 1, 1)
        self.week_first = self.today  # the first trading day of the current week
        self.week_base = ZERO  # realized P&L of the week's closed days
        self._cutoffs: dict[int, int] = {}  # days(N) -> index of the first closed day counted
        self.days_fn = DaysFunctions(self)

    # ---- the views ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """week.*: on every change of today's P&L (two Decimal adds)."""
        ctx = self._ctx
        week = ctx.week
        week.realized_pnl = self.week_base + ctx.day.realized_pnl
        week.pnl = week.realized_pnl + ctx.day.unrealized_pnl

    def realized(self, n: int) -> Decimal:
        """days(n).realized_pnl: today's plus the closed days of the last n trading days."""
        if n < 1 or n > KEEP_DAYS:
            raise WindowTooLong(f"days({n}): N must be 1..{KEEP_DAYS} (the trading days kept)")
        first = self._cutoffs.get(n)
        if first is None:
            first = self._cutoffs[n] = bisect.bisect_left(self._dates, self.first_day(n))
        return self._ctx.day.realized_pnl + self._sums[-1] - self._sums[first]

    # ---- the calendar ------------------------------------------------------------------------
    def set_day(self, calendar: Calendar, today: dt.date, week_start: WeekStart) -> None:
        """At start, at each reset and on a reload: today and the week are recomputed."""
        self.calendar, self.today, self.week_start = calendar, today, week_start
        self._cutoffs.clear()
        self.week_first = self._week_first()
        self.week_base = sum(
            (d.realized_pnl for d in self.days if d.trading_day >= self.week_first), ZERO
        )
        self.refresh()

    def is_trading_day(self, day: dt.date) -> bool:
        cal = self.calendar
        return cal is None or (day.weekday() in cal.session.days and day not in cal.holidays)

    def first_day(self, n: int) -> dt.date:
        """The earliest date days(n) counts: the (n-1)th trading day before today."""
        day, left = self.today, n - 1
        for _ in range(_MAX_WALK if left else 0):
            day -= _ONE_DAY
            if self.is_trading_day(day):
                left -= 1
                if left == 0:
                    break
        return day

    def _week_first(self) -> dt.date:
        """The trading day holding the latest week start before today's end (its reset): the
        week runs from the reset that begins that day, whole trading days only."""
        cal = self.calendar
        if cal is None:
            return self.today
        end = reset_instant(self.today, cal.tz, cal.reset)  # the reset that closes today
        local = end.astimezone(cal.tz).date()
        for back in range(8):
            day = local - back * _ONE_DAY
            if day.weekday() != self.week_start.weekday:
                continue
            start = wall_to_utc(day, self.week_start.time, cal.tz)
            if start < end:
                return cal.trading_day(start)
        return self.today

    # ---- closing days ------------------------------------------------------------------------
    def add_day(self, record: DayResultRecord) -> None:
        """A closed day's result (a reset, a restore, a late fill rewriting it)."""
        i = bisect.bisect_left(self._dates, record.trading_day)
        if i < len(self._dates) and self._dates[i] == record.trading_day:
            self.days[i] = record
        else:
            self.days.insert(i, record)
            self._dates.insert(i, record.trading_day)
        self._resum()

    def load_days(self, records: Iterable[DayResultRecord]) -> None:
        """The kept days read back at start (oldest first): one pass, not one per row."""
        self.days = sorted(records, key=lambda d: d.trading_day)
        self._dates = [d.trading_day for d in self.days]
        self._resum()

    def keep_from(self) -> dt.date:
        """The oldest day kept: the first of the last KEEP_DAYS trading days."""
        return self.first_day(KEEP_DAYS)

    def prune(self) -> None:
        cut = bisect.bisect_left(self._dates, self.keep_from())
        if cut:
            del self.days[:cut], self._dates[:cut]
            self._resum()

    def _resum(self) -> None:
        sums = [ZERO]
        for d in self.days:
            sums.append(sums[-1] + d.realized_pnl)
        self._sums = sums
        self._cutoffs.clear()

    def eod_high(self) -> Decimal | None:
        """The end-of-day high after the newest kept day (None before any)."""
        return next((d.eod_high for d in reversed(self.days) if d.eod_high is not None), None)

    # ---- the fills of closed days ------------------------------------------------------------
    def add_fills(
        self,
        fills: Iterable[tuple[int, PastFill]],
        until: dt.datetime,
        drop: Iterable[int] = (),
    ) -> None:
        """Closed days' fills (trade id, fill), without the voided ones in `drop`; the window
        then holds the fills of WINDOW_DAYS before `until` (the last reset)."""
        merged = dict(self._fills.items())  # once a day (and for a late fill): rebuilt
        merged.update(fills)
        for trade_id in drop:
            merged.pop(trade_id, None)
        self.until_ms = max(self.until_ms, epoch_ms(until))
        oldest = self.until_ms - MAX_WINDOW_MS
        kept = sorted((f for f in merged.items() if f[1][0] > oldest), key=_fill_order)
        self._fills = PastFills(kept)
        self.past = FillWindow()
        for _, (ms, net, closing, own) in kept:
            self.past.add(ms, net, closing, own)

    def past_start(self, now: dt.datetime, window_ms: int) -> int | None:
        """Index of the first closed-day fill in (now - window, now]; None when the window
        does not reach before the last reset (the common case: one compare)."""
        if window_ms > MAX_WINDOW_MS:
            raise WindowTooLong(
                f"a window of {window_ms // 86_400_000} days: at most {WINDOW_DAYS} days of "
                "fills are kept (use days(N) for longer periods)"
            )
        since = epoch_ms(now) - window_ms
        return None if since >= self.until_ms else self.past.start(since)


class DaysFunctions:
    """`days(N).realized_pnl` and `days(N).pnl` (rmdsl.lang.context.DaysFunctions)."""

    __slots__ = ("_h",)

    def __init__(self, history: DayHistory) -> None:
        self._h = history

    def realized_pnl(self, days: int) -> Decimal:
        return self._h.realized(days)

    def pnl(self, days: int) -> Decimal:
        return self._h.realized(days) + self._h._ctx.day.unrealized_pnl


def _fill_order(item: tuple[int, PastFill]) -> tuple[int, int]:
    return item[1][0], item[0]


class PastFills:
    """Trade id -> PastFill, the closed days' fills that a window can reach (up to
    WINDOW_DAYS of them), held in arrays (rmdsl.engine.compact's encoding: the net P&L as
    coefficient and exponent, exact): ~26 bytes a fill, where a dict of tuples of `int`
    and `Decimal` objects took ~275 (docs/performance.md, "Cheaper fills of the day"). A
    value that does not fit is kept as it came. Built whole when the day closes."""

    __slots__ = ("_ids", "_meta", "_ms", "_net", "_wide")
    _CLOSING, _OWN, _WIDE = 1 << 8, 1 << 9, 1 << 10  # _meta: the exponent + 128, then these

    def __init__(self, fills: Iterable[tuple[int, PastFill]] = ()) -> None:
        self._ids, self._ms, self._net, self._meta = array("q"), array("q"), array("q"), array("i")
        self._wide: dict[int, PastFill] = {}
        for trade_id, fill in fills:
            ms, net, closing, own = fill
            coded = encode(net)
            meta = (self._CLOSING if closing else 0) | (self._OWN if own else 0)
            if coded is None:
                self._wide[trade_id] = fill
                coded, meta = (0, 0), meta | self._WIDE
            self._ids.append(trade_id)
            self._ms.append(ms)
            self._net.append(coded[0])
            self._meta.append(meta | (coded[1] + 128))

    def __len__(self) -> int:
        return len(self._ids)

    def items(self) -> Iterator[tuple[int, PastFill]]:
        """(trade id, fill) in the order they were given."""
        for i, trade_id in enumerate(self._ids):
            meta = self._meta[i]
            if meta & self._WIDE:
                yield trade_id, self._wide[trade_id]
                continue
            net = decode(self._net[i], (meta & 0xFF) - 128)
            yield trade_id, (self._ms[i], net, bool(meta & self._CLOSING), bool(meta & self._OWN))
