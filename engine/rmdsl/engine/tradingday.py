"""Trading-day, reset and session arithmetic: (instant, timezone, wall times) -> dates and instants.

Pure functions, no I/O. Conventions (docs/operations.md, "Trading day"):

* A trading day is named by the calendar date on which it ENDS: it runs from
  the reset on the previous calendar day (inclusive) to the reset on its own
  date (exclusive). With reset 17:00 America/Chicago, Monday 17:00:00 local
  belongs to Tuesday's trading day; Monday 16:59:59 to Monday's.
* A wall time that does not exist (inside a spring-forward gap) happens at the
  first instant whose wall time is later, i.e. when the clocks jump. A wall time
  that exists twice (fall back) happens at its first occurrence. So a 02:30
  reset on 2026-03-08 in Chicago fires at 03:00 CDT, and a 01:30 reset on
  2026-11-01 fires at 01:30 CDT (not again at 01:30 CST).
* A session whose end is not after its start wraps midnight and is named by the
  day it ends on, like the trading day: `18:00..17:00` with days mon..fri opens
  Sunday 18:00 for Monday. `days` and `holidays` refer to that day.

Every returned instant is a tz-aware UTC datetime; every input instant must be tz-aware.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from rmdsl.rules.model import Ruleset, SessionHours

_ONE_DAY = dt.timedelta(days=1)
# the longest stretch without a session we search through before calling the schedule empty
_MAX_SEARCH_DAYS = 800


def _require_aware(ts: dt.datetime) -> None:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts!r}: the engine works with tz-aware instants only")


def _wall(ts: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    return ts.astimezone(tz).replace(tzinfo=None, fold=0)


def wall_to_utc(day: dt.date, wall: dt.time, tz: ZoneInfo) -> dt.datetime:
    """The first instant at which the clocks in `tz` on `day` read `wall` or later (see module)."""
    naive = dt.datetime.combine(day, wall.replace(tzinfo=None))
    first = naive.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
    if _wall(first, tz) == naive:
        return first  # exists (fold=0 is the first occurrence when ambiguous)
    # nonexistent: fold=0 used the pre-gap offset and landed after the gap; fold=1 lands before
    # it. Bisect to the first instant whose wall time is at or past `naive` (the jump).
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(dt.UTC)
    hi = first
    lo, hi = min(lo, hi), max(lo, hi)
    step = dt.timedelta(microseconds=1)
    while hi - lo > step:
        mid = lo + (hi - lo) / 2
        if _wall(mid, tz) >= naive:
            hi = mid
        else:
            lo = mid
    return hi


def reset_instant(day: dt.date, tz: ZoneInfo, reset: dt.time) -> dt.datetime:
    """The reset that ends trading day `day` (and begins the next one), in UTC."""
    return wall_to_utc(day, reset, tz)


def trading_day(ts: dt.datetime, tz: ZoneInfo, reset: dt.time) -> dt.date:
    """The trading day `ts` belongs to: the date of the first reset strictly after `ts`."""
    return _next_reset_and_day(ts, tz, reset)[1]


def next_reset(ts: dt.datetime, tz: ZoneInfo, reset: dt.time) -> dt.datetime:
    """The first reset strictly after `ts`, as an aware UTC datetime."""
    return _next_reset_and_day(ts, tz, reset)[0]


def next_wall_time(ts: dt.datetime, tz: ZoneInfo, wall: dt.time) -> dt.datetime:
    """The first instant strictly after `ts` at which the clocks in `tz` read `wall` (`until:
    13:00`): a reset's arithmetic, so a gap or a repeated hour is read as the module says."""
    return _next_reset_and_day(ts, tz, wall)[0]


def last_reset(ts: dt.datetime, tz: ZoneInfo, reset: dt.time) -> dt.datetime:
    """The reset that began the trading day of `ts` (at or before `ts`)."""
    day = trading_day(ts, tz, reset)
    return reset_instant(day - _ONE_DAY, tz, reset)


def _next_reset_and_day(
    ts: dt.datetime, tz: ZoneInfo, reset: dt.time
) -> tuple[dt.datetime, dt.date]:
    _require_aware(ts)
    local_day = ts.astimezone(tz).date()
    # a reset's instant can fall on a neighbouring local date only around midnight DST jumps
    for day in (local_day - _ONE_DAY, local_day, local_day + _ONE_DAY, local_day + 2 * _ONE_DAY):
        at = reset_instant(day, tz, reset)
        if at > ts:
            return at, day
    raise AssertionError("unreachable: a reset happens every calendar day")


def wraps(session: SessionHours) -> bool:
    """True when the session crosses midnight (end not after start; equal means 24 h)."""
    return session.end <= session.start


def _is_session_day(day: dt.date, session: SessionHours, holidays: Iterable[dt.date]) -> bool:
    return day.weekday() in session.days and day not in holidays


def _session_bounds(
    day: dt.date, tz: ZoneInfo, session: SessionHours
) -> tuple[dt.datetime, dt.datetime]:
    """Start and end instants of the session named `day` (which ends on `day`)."""
    start_day = day - _ONE_DAY if wraps(session) else day
    return wall_to_utc(start_day, session.start, tz), wall_to_utc(day, session.end, tz)


def current_session_end(
    ts: dt.datetime, tz: ZoneInfo, session: SessionHours, holidays: Iterable[dt.date] = ()
) -> dt.datetime | None:
    """The end of the session open at `ts`, or None when the market is closed by the schedule."""
    _require_aware(ts)
    holidays = frozenset(holidays)
    local_day = ts.astimezone(tz).date()
    for day in (local_day, local_day + _ONE_DAY):
        if not _is_session_day(day, session, holidays):
            continue
        start, end = _session_bounds(day, tz, session)
        if start <= ts < end:
            return end
    return None


def session_open(
    ts: dt.datetime, tz: ZoneInfo, session: SessionHours, holidays: Iterable[dt.date] = ()
) -> bool:
    """`session.open`: inside the half-open [start, end) of a session day that is no holiday."""
    return current_session_end(ts, tz, session, holidays) is not None


def session_ends_in_ms(
    ts: dt.datetime, tz: ZoneInfo, session: SessionHours, holidays: Iterable[dt.date] = ()
) -> int:
    """`session.ends_in`: milliseconds until the open session ends; 0 when closed."""
    end = current_session_end(ts, tz, session, holidays)
    if end is None:
        return 0
    return (end - ts) // dt.timedelta(milliseconds=1)


def next_session_start(
    ts: dt.datetime, tz: ZoneInfo, session: SessionHours, holidays: Iterable[dt.date] = ()
) -> dt.datetime:
    """The first session start strictly after `ts` (a session open at `ts` does not count).

    Raises ValueError when no session day occurs in the next ~2 years (empty `days`).
    """
    _require_aware(ts)
    holidays = frozenset(holidays)
    day = ts.astimezone(tz).date()
    for _ in range(_MAX_SEARCH_DAYS):
        if _is_session_day(day, session, holidays):
            start, _end = _session_bounds(day, tz, session)
            if start > ts:
                return start
        day += _ONE_DAY
    raise ValueError("the session schedule has no open day (check `session.days` and holidays)")


@dataclass(frozen=True, slots=True)
class Calendar:
    """The clock settings of a ruleset bundled, so callers need not pass four arguments."""

    tz: ZoneInfo
    reset: dt.time
    session: SessionHours
    holidays: frozenset[dt.date] = frozenset()
    # the last trading day asked about: (its first instant, the next reset, its date). Every
    # fill asks for its day (and a saved account row for the last reset) two or three times,
    # and each answer computed is four zone conversions (~10 us): nearly all fall in one day.
    _day: list[tuple[dt.datetime, dt.datetime, dt.date]] = field(
        default_factory=list, init=False, compare=False, repr=False
    )

    @classmethod
    def of(cls, ruleset: Ruleset) -> Calendar:
        return cls(ruleset.timezone, ruleset.reset, ruleset.session, ruleset.holidays)

    def _day_of(self, ts: dt.datetime) -> tuple[dt.datetime, dt.datetime, dt.date]:
        """The trading day of `ts` as (last reset, next reset, date): the module's functions'
        answers, kept for the last day asked about."""
        _require_aware(ts)
        known = self._day
        if known and known[0][0] <= ts < known[0][1]:
            return known[0]
        end, day = _next_reset_and_day(ts, self.tz, self.reset)
        span = (reset_instant(day - _ONE_DAY, self.tz, self.reset), end, day)
        known[:] = [span]
        return span

    def trading_day(self, ts: dt.datetime) -> dt.date:
        return self._day_of(ts)[2]

    def next_reset(self, ts: dt.datetime) -> dt.datetime:
        return self._day_of(ts)[1]

    def last_reset(self, ts: dt.datetime) -> dt.datetime:
        return self._day_of(ts)[0]

    def next_wall_time(self, ts: dt.datetime, wall: dt.time) -> dt.datetime:
        return next_wall_time(ts, self.tz, wall)

    def session_open(self, ts: dt.datetime) -> bool:
        return session_open(ts, self.tz, self.session, self.holidays)

    def session_ends_in_ms(self, ts: dt.datetime) -> int:
        return session_ends_in_ms(ts, self.tz, self.session, self.holidays)

    def next_session_start(self, ts: dt.datetime) -> dt.datetime:
        return next_session_start(ts, self.tz, self.session, self.holidays)
