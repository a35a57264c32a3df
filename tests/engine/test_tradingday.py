"""Trading day, reset and session arithmetic: DST, wrap-midnight sessions, holidays, weekends."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from rmdsl.engine.tradingday import (
    Calendar,
    last_reset,
    next_reset,
    next_session_start,
    reset_instant,
    session_ends_in_ms,
    session_open,
    trading_day,
    wall_to_utc,
)
from rmdsl.rules.model import SessionHours

CHI = ZoneInfo("America/Chicago")
UTC = dt.UTC
FIVE_PM = dt.time(17, 0)
RTH = SessionHours(dt.time(8, 30), dt.time(15, 10), frozenset({0, 1, 2, 3, 4}))
GLOBEX = SessionHours(dt.time(17, 0), dt.time(16, 0), frozenset({0, 1, 2, 3, 4}))


def chi(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, fold: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=CHI, fold=fold)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=UTC)


# --- trading day -----------------------------------------------------------------------------


def test_reset_instant_belongs_to_the_next_trading_day() -> None:
    # Monday 2026-11-23 17:00 Chicago -> Tuesday's trading day
    assert trading_day(chi(2026, 11, 23, 17), CHI, FIVE_PM) == dt.date(2026, 11, 24)
    assert trading_day(chi(2026, 11, 23, 16, 59, 59), CHI, FIVE_PM) == dt.date(2026, 11, 23)
    assert trading_day(chi(2026, 11, 23, 0, 0), CHI, FIVE_PM) == dt.date(2026, 11, 23)


def test_trading_day_accepts_any_timezone_for_the_instant() -> None:
    # 23:00 UTC on Monday is 17:00 CST
    assert trading_day(utc(2026, 11, 23, 23), CHI, FIVE_PM) == dt.date(2026, 11, 24)
    assert trading_day(utc(2026, 11, 23, 22, 59), CHI, FIVE_PM) == dt.date(2026, 11, 23)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        trading_day(dt.datetime(2026, 1, 5, 12), CHI, FIVE_PM)


def test_next_reset_is_strictly_after() -> None:
    at = chi(2026, 11, 23, 17)
    assert next_reset(at, CHI, FIVE_PM) == utc(2026, 11, 24, 23)
    assert next_reset(at - dt.timedelta(microseconds=1), CHI, FIVE_PM) == utc(2026, 11, 23, 23)
    assert next_reset(at, CHI, FIVE_PM).tzinfo is UTC


def test_last_reset_began_the_trading_day() -> None:
    assert last_reset(chi(2026, 11, 24, 10), CHI, FIVE_PM) == utc(2026, 11, 23, 23)
    assert last_reset(chi(2026, 11, 23, 17), CHI, FIVE_PM) == utc(2026, 11, 23, 23)


# --- DST 2026: starts Sunday March 8 02:00, ends Sunday November 1 02:00 (America/Chicago) ----


def test_reset_across_spring_forward_is_17_local_on_both_sides() -> None:
    # Saturday 7 March: CST (UTC-6); Sunday 8 March: CDT (UTC-5)
    assert next_reset(chi(2026, 3, 7, 12), CHI, FIVE_PM) == utc(2026, 3, 7, 23)
    assert next_reset(chi(2026, 3, 7, 18), CHI, FIVE_PM) == utc(2026, 3, 8, 22)
    # the trading day that contains the jump is 23 hours long
    assert reset_instant(dt.date(2026, 3, 8), CHI, FIVE_PM) - reset_instant(
        dt.date(2026, 3, 7), CHI, FIVE_PM
    ) == dt.timedelta(hours=23)


def test_reset_across_fall_back_is_17_local_on_both_sides() -> None:
    assert next_reset(chi(2026, 10, 31, 18), CHI, FIVE_PM) == utc(2026, 11, 1, 23)
    assert reset_instant(dt.date(2026, 11, 1), CHI, FIVE_PM) - reset_instant(
        dt.date(2026, 10, 31), CHI, FIVE_PM
    ) == dt.timedelta(hours=25)
    assert reset_instant(dt.date(2026, 10, 31), CHI, FIVE_PM) == utc(2026, 10, 31, 22)


def test_nonexistent_reset_time_fires_when_the_clocks_jump() -> None:
    # 02:30 does not exist on 2026-03-08 in Chicago: 02:00 CST jumps to 03:00 CDT (08:00 UTC)
    at = reset_instant(dt.date(2026, 3, 8), CHI, dt.time(2, 30))
    assert at == utc(2026, 3, 8, 8)
    assert at.astimezone(CHI).replace(tzinfo=None) == dt.datetime(2026, 3, 8, 3, 0)
    before = at - dt.timedelta(microseconds=1)
    assert trading_day(before, CHI, dt.time(2, 30)) == dt.date(2026, 3, 8)
    assert trading_day(at, CHI, dt.time(2, 30)) == dt.date(2026, 3, 9)


def test_ambiguous_reset_time_fires_at_its_first_occurrence_only() -> None:
    # 01:30 happens twice on 2026-11-01: 06:30 UTC (CDT) and 07:30 UTC (CST)
    reset = dt.time(1, 30)
    assert reset_instant(dt.date(2026, 11, 1), CHI, reset) == utc(2026, 11, 1, 6, 30)
    second = chi(2026, 11, 1, 1, 30, fold=1)
    assert second.astimezone(UTC) == utc(2026, 11, 1, 7, 30)
    # the second 01:30 is still the new trading day, not a second reset
    assert trading_day(second, CHI, reset) == dt.date(2026, 11, 2)
    assert next_reset(second, CHI, reset) == utc(2026, 11, 2, 7, 30)


def test_trading_day_is_monotonic_through_the_fall_back_hour() -> None:
    reset = dt.time(1, 30)
    ts = utc(2026, 11, 1, 5)
    days = []
    while ts < utc(2026, 11, 1, 9):
        days.append(trading_day(ts, CHI, reset))
        ts += dt.timedelta(minutes=5)
    assert days == sorted(days)
    assert set(days) == {dt.date(2026, 11, 1), dt.date(2026, 11, 2)}


def test_wall_to_utc_other_zone_midnight() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    assert wall_to_utc(dt.date(2026, 1, 1), dt.time(0, 0), tokyo) == utc(2025, 12, 31, 15)


# --- sessions --------------------------------------------------------------------------------


def test_regular_session_is_half_open() -> None:
    assert not session_open(chi(2026, 11, 24, 8, 29, 59), CHI, RTH)
    assert session_open(chi(2026, 11, 24, 8, 30), CHI, RTH)
    assert session_open(chi(2026, 11, 24, 15, 9, 59), CHI, RTH)
    assert not session_open(chi(2026, 11, 24, 15, 10), CHI, RTH)


def test_weekend_and_holiday_are_closed() -> None:
    assert not session_open(chi(2026, 11, 28, 10), CHI, RTH)  # Saturday
    assert not session_open(chi(2026, 11, 29, 10), CHI, RTH)  # Sunday
    xmas = frozenset({dt.date(2026, 12, 25)})
    assert session_open(chi(2026, 12, 24, 10), CHI, RTH, xmas)
    assert not session_open(chi(2026, 12, 25, 10), CHI, RTH, xmas)


def test_session_ends_in() -> None:
    assert session_ends_in_ms(chi(2026, 11, 24, 15, 0), CHI, RTH) == 10 * 60_000
    assert session_ends_in_ms(chi(2026, 11, 24, 15, 10), CHI, RTH) == 0
    assert session_ends_in_ms(chi(2026, 11, 28, 10), CHI, RTH) == 0


def test_wrapping_session_is_named_by_the_day_it_ends() -> None:
    # Sunday 18:00 belongs to Monday's 17:00..16:00 session
    assert session_open(chi(2026, 11, 29, 18), CHI, GLOBEX)
    assert session_open(chi(2026, 11, 30, 3), CHI, GLOBEX)
    assert not session_open(chi(2026, 11, 30, 16, 30), CHI, GLOBEX)  # daily break
    assert session_open(chi(2026, 11, 30, 17), CHI, GLOBEX)  # Tuesday's session
    # Friday 17:00 would open Saturday's session: closed
    assert not session_open(chi(2026, 11, 27, 17, 30), CHI, GLOBEX)
    assert session_open(chi(2026, 11, 27, 15, 59), CHI, GLOBEX)
    assert session_ends_in_ms(chi(2026, 11, 29, 18), CHI, GLOBEX) == 22 * 3_600_000


def test_wrapping_session_holiday_closes_the_evening_before() -> None:
    thanksgiving = frozenset({dt.date(2026, 11, 26)})  # a Thursday
    assert not session_open(chi(2026, 11, 25, 18), CHI, GLOBEX, thanksgiving)
    assert not session_open(chi(2026, 11, 26, 10), CHI, GLOBEX, thanksgiving)
    assert session_open(chi(2026, 11, 26, 17, 30), CHI, GLOBEX, thanksgiving)  # Friday's


def test_next_session_start_skips_weekend_and_holiday() -> None:
    # Friday after the close -> Monday 08:30
    assert next_session_start(chi(2026, 11, 27, 16), CHI, RTH) == chi(2026, 11, 30, 8, 30)
    # during a session: the next one, not the current
    assert next_session_start(chi(2026, 11, 24, 9), CHI, RTH) == chi(2026, 11, 25, 8, 30)
    assert next_session_start(chi(2026, 11, 24, 7), CHI, RTH) == chi(2026, 11, 24, 8, 30)
    xmas = frozenset({dt.date(2026, 12, 25)})
    assert next_session_start(chi(2026, 12, 24, 16), CHI, RTH, xmas) == chi(2026, 12, 28, 8, 30)


def test_next_session_start_wrapping_and_dst() -> None:
    # Friday evening -> Sunday 17:00 (Monday's session)
    got = next_session_start(chi(2026, 11, 27, 17, 30), CHI, GLOBEX)
    assert got == chi(2026, 11, 29, 17)
    # across spring forward: Sunday 8 March 17:00 is CDT
    got = next_session_start(chi(2026, 3, 6, 18), CHI, GLOBEX)
    assert got == utc(2026, 3, 8, 22)


def test_next_session_start_empty_schedule_raises() -> None:
    never = SessionHours(dt.time(8, 30), dt.time(15, 10), frozenset())
    with pytest.raises(ValueError, match="no open day"):
        next_session_start(chi(2026, 11, 24), CHI, never)


def test_calendar_bundles_the_settings() -> None:
    cal = Calendar(CHI, FIVE_PM, RTH, frozenset({dt.date(2026, 12, 25)}))
    ts = chi(2026, 12, 24, 17, 5)
    assert cal.trading_day(ts) == dt.date(2026, 12, 25)
    assert cal.next_reset(ts) == utc(2026, 12, 25, 23)
    assert cal.last_reset(ts) == utc(2026, 12, 24, 23)
    assert not cal.session_open(ts)
    assert cal.session_ends_in_ms(ts) == 0
    assert cal.next_session_start(ts) == chi(2026, 12, 28, 8, 30)


@pytest.mark.parametrize(
    ("zone", "reset"),
    [(CHI, FIVE_PM), (CHI, dt.time(2, 30)), (CHI, dt.time(1, 30)), (ZoneInfo("UTC"), dt.time(0))],
)
def test_calendar_answers_as_the_functions_do_through_dst_and_resets(
    zone: ZoneInfo, reset: dt.time
) -> None:
    """The calendar keeps the last trading day asked about: every instant, in order, out of
    order and on the resets themselves, gets the functions' answers."""
    cal = Calendar(zone, reset, RTH)
    instants: list[dt.datetime] = []
    for start in (utc(2026, 3, 6), utc(2026, 10, 30)):  # both DST weekends in Chicago
        instants += [start + dt.timedelta(minutes=17 * i) for i in range(1200)]
        resets = [reset_instant(start.date() + dt.timedelta(days=d), zone, reset) for d in range(6)]
        for at in resets:
            instants += [at - dt.timedelta(microseconds=1), at, at + dt.timedelta(microseconds=1)]
    instants += instants[::-7]  # going back in time after a later day was kept
    for ts in instants:
        assert cal.trading_day(ts) == trading_day(ts, zone, reset), ts
        assert cal.next_reset(ts) == next_reset(ts, zone, reset), ts
        assert cal.last_reset(ts) == last_reset(ts, zone, reset), ts


def test_calendar_computes_a_trading_day_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fill asks for its trading day: within a day that is a comparison, not four zone
    conversions; a naive instant is still refused."""
    import rmdsl.engine.tradingday as td

    computed: list[dt.datetime] = []
    real = td._next_reset_and_day

    def counting(ts: dt.datetime, tz: ZoneInfo, reset: dt.time) -> tuple[dt.datetime, dt.date]:
        computed.append(ts)
        return real(ts, tz, reset)

    monkeypatch.setattr(td, "_next_reset_and_day", counting)
    cal = Calendar(CHI, FIVE_PM, RTH)
    monday = chi(2026, 3, 2, 9)
    for minutes in range(0, 8 * 60, 5):  # Monday 09:00 .. 16:55, one trading day
        ts = monday + dt.timedelta(minutes=minutes)
        assert cal.trading_day(ts) == dt.date(2026, 3, 2)
        assert cal.last_reset(ts) == chi(2026, 3, 1, 17)  # the reset every day: Sunday 17:00
    assert len(computed) == 1
    assert cal.trading_day(chi(2026, 3, 2, 17)) == dt.date(2026, 3, 3)  # the next day
    assert len(computed) == 2
    with pytest.raises(ValueError):
        cal.trading_day(dt.datetime(2026, 3, 2, 10))
