"""The virtual clock -> `now.*` and `session.*` views of the EvalContext.

Session boundaries are computed only when one is crossed (cached until the
next open or close), and `now.*` in the ruleset's timezone is worked out only when a rule
reads it, so a quote pays a subtraction.
"""

from __future__ import annotations

import datetime as dt

from rmdsl.engine.state import AccountState
from rmdsl.engine.tradingday import Calendar, current_session_end

_FAR = dt.datetime.max.replace(tzinfo=dt.UTC)
_PAST = dt.datetime.min.replace(tzinfo=dt.UTC)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class ClockViews:
    def __init__(self, state: AccountState, calendar: Calendar) -> None:
        self.state = state
        self.calendar = calendar
        self._until = _PAST  # the session views are valid until this instant
        self._end: dt.datetime | None = None  # the open session's end
        self._start: dt.datetime | None = None  # the current (or last) session's start

    def set_calendar(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self._until = _PAST
        self.update()

    def update(self) -> None:
        """Refresh now.* always and session.* when a boundary has been crossed."""
        now = self.state.now
        self.state.ctx.now.move(now, self.calendar.tz)
        session = self.state.ctx.session
        if now >= self._until:
            cal = self.calendar
            self._end = current_session_end(now, cal.tz, cal.session, cal.holidays)
            if self._end is not None:
                self._until = self._end
            else:
                try:
                    self._until = cal.next_session_start(now)
                except ValueError:
                    self._until = _FAR
            session.open = self._end is not None
            self._start = last_session_start(cal, now)
            self.refresh_fills()
        session.move(now, self._end)

    def refresh_fills(self) -> None:
        """`session.fills`: fills since the current (or last) session opened."""
        session = self.state.ctx.session
        fills = self.state.fills
        first = 0 if self._start is None else fills.start(epoch_ms(self._start), inclusive=True)
        session.fills = fills.fills(first)


def epoch_ms(ts: dt.datetime) -> int:
    return (ts - _EPOCH) // dt.timedelta(milliseconds=1)


def last_session_start(cal: Calendar, now: dt.datetime) -> dt.datetime | None:
    """The latest session start at or before now (within the last week), or None."""
    try:
        start = cal.next_session_start(now - dt.timedelta(days=7))
        if start > now:
            return None
        while (following := cal.next_session_start(start)) <= now:
            start = following
    except ValueError:
        return None
    return start
