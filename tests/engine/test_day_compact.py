"""The trading day's fills as machine integers (rmdsl.engine.compact, windows.FillWindow): the
same fills, the same exact money and the same window figures as the objects they replace."""

from __future__ import annotations

import datetime as dt
from array import array
from decimal import Decimal
from zoneinfo import ZoneInfo

from enginekit import D, at, fill
from hypothesis import given, settings
from hypothesis import strategies as s

from rmdsl.engine.compact import DayFills, IntPairs, IntSet, decode, encode
from rmdsl.engine.history import PastFills
from rmdsl.engine.state import AccountState
from rmdsl.engine.windows import Fill, FillWindow, count, tally
from rmdsl.lang.context import DayView

# money as the gateway sends it, and what it might: cents, finer, huge, negative zero
MONEY = s.one_of(
    s.decimals(min_value=-100_000, max_value=100_000, places=2, allow_nan=False),
    s.decimals(allow_nan=False, allow_infinity=False),
    s.sampled_from([Decimal("-0.00"), Decimal("0"), Decimal("1E+30"), Decimal("12.5")]),
)
TIMES = s.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1)).map(
    lambda t: t.replace(tzinfo=dt.UTC)
)
# sums of which stay within Decimal's 28 digits (the day's counters are Decimal sums, which
# round beyond them: a reference that rounds is no reference)
SUMMABLE = MONEY.filter(lambda d: abs(d) < 10**12 and d.as_tuple().exponent >= -6)  # type: ignore[operator]
FILLS = s.tuples(TIMES, s.none() | MONEY, s.booleans(), s.booleans(), MONEY)


def same(a: Fill, b: Fill) -> bool:
    """Equal and written alike: the same Decimal digits and exponents, the same time."""
    money = [(x.as_tuple() if x is not None else None) for x in (a[1], a[4], b[1], b[4])]
    return a == b and money[:2] == money[2:] and a[0].tzinfo is b[0].tzinfo


@given(MONEY)
def test_encode_decode_gives_back_the_same_decimal(value: Decimal) -> None:
    parts = encode(value)
    if parts is not None:
        assert decode(*parts).as_tuple() == value.as_tuple()


@settings(max_examples=60)
@given(s.lists(s.tuples(s.integers(-50, 50), FILLS, s.booleans()), max_size=40))
def test_day_fills_behave_as_a_dict_of_fill_tuples(ops: list[tuple[int, Fill, bool]]) -> None:
    compact, plain = DayFills(), dict[int, Fill]()
    for trade_id, f, remove in ops:
        if remove and trade_id in plain:
            del compact[trade_id], plain[trade_id]
        else:
            compact[trade_id], plain[trade_id] = f, f
        assert len(compact) == len(plain) and set(compact) == set(plain)
    assert all(same(compact[i], plain[i]) for i in plain)
    assert compact == plain and DayFills(plain) == plain
    by_time = [i for i, _ in compact.in_trade_time()]
    assert by_time == sorted(plain, key=lambda i: (plain[i][0], i))


def test_a_fill_that_does_not_fit_is_kept_as_it_came() -> None:
    chicago = dt.datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("America/Chicago"))
    odd = [
        (chicago, D(5), False, False, D(0)),
        (at(1), Decimal("1E+30") * 10**20, False, True, D("0.74")),
        (at(2), Decimal("-0.00"), True, False, Decimal("0.740")),
    ]
    days = DayFills({i: f for i, f in enumerate(odd)})
    assert all(same(days[i], f) for i, f in enumerate(odd))
    assert days.flags(1) == 2 and days.flags(2) == 1 and days.flags(9) is None


@settings(max_examples=60)
@given(
    s.lists(
        s.tuples(s.integers(0, 10_000), SUMMABLE, s.booleans()),
        max_size=40,
    ),
    s.integers(0, 10_000),
)
def test_the_windows_sums_are_the_decimal_sums(
    fills: list[tuple[int, Decimal, bool]], since: int
) -> None:
    """Fills in any order (late ones inserted), money of any precision: every window's counts
    and P&L equal the sums of the fills in it, exactly."""
    w = FillWindow()
    for i, (ms, net, closing) in enumerate(fills):
        w.add(ms, net, closing, own=i % 3 != 0)
    inside = [(i, f) for i, f in enumerate(fills) if f[0] > since]
    own = [f for i, f in inside if i % 3 != 0]
    assert w.fills(w.start(since)) == len(own)
    assert w.trades(w.start(since)) == sum(1 for f in own if f[2])
    assert w.losses(w.start(since)) == sum(1 for f in own if f[2] and f[1] < 0)
    assert w.pnl(w.start(since)) == sum((f[1] for _, f in inside), Decimal(0))


def test_sums_past_64_bits_stay_exact() -> None:
    w = FillWindow()
    big = Decimal(2**62) / 100  # 2**62 cents: two of them overflow a 64-bit sum
    for ms in (1, 2, 3):
        w.add(ms, big, True)
    w.add(0, Decimal("0.001"), True)  # late, and finer than a cent
    assert w.pnl(0) == 3 * big + Decimal("0.001") and w.pnl(2) == 2 * big
    assert isinstance(w._pnl, list)  # Python integers from the overflow on
    w.clear()
    assert len(w) == 0 and w.pnl(0) == 0


@settings(max_examples=40)
@given(s.lists(s.tuples(s.integers(0, 600), s.none() | SUMMABLE, s.booleans()), max_size=30))
def test_the_day_rebuilt_from_compact_fills_is_the_day_counted_live(
    fills: list[tuple[int, Decimal | None, bool]],
) -> None:
    """A void rebuilds the day from the kept fills: the counters equal those counted from the
    events themselves, and those of a plain dict of the same fills (tally)."""
    st, live, plain = AccountState(1), DayView(), dict[int, Fill]()
    for tid, (sec, gross, _) in enumerate(fills, start=1):
        ev = fill(tid, at(sec), gross, fees="0.74")
        st.apply_trade(ev)
        plain[tid] = (ev.ts, ev.pnl, False, False, ev.fees)
    for tid, (sec, gross, voided) in enumerate(fills, start=1):
        if voided:
            st.apply_trade(fill(tid, at(sec), gross, fees="0.74", voided=True))
            plain[tid] = (at(sec), plain[tid][1], True, False, plain[tid][4])
    for _, (_, gross, voided, ours, fees) in sorted(plain.items(), key=lambda f: (f[1][0], f[0])):
        if not voided:
            count(live, gross, fees, not ours)
    day, counted = st.ctx.day, tally(st.trades)
    for name in ("realized_pnl", "gross_pnl", "fees", "trades", "wins", "losses"):
        assert getattr(day, name) == getattr(live, name) == getattr(counted, name), name
    assert st.fills.pnl(0) == live.realized_pnl and st.fills.fills(0) == len(plain) - sum(
        1 for f in plain.values() if f[2]
    )


def test_the_reset_hands_the_days_fills_over_and_clears_the_day() -> None:
    st = AccountState(1)
    st.apply_trade(fill(7, at(1), None, fees="0.74"), by_rmdsl=True)
    st.apply_trade(fill(8, at(2), "12.5", fees="0.74"))
    st.reset_day()
    assert len(st.trades) == 0 and len(st.fills) == 0 and st.fills.pnl(0) == 0
    assert set(st.previous) == {7, 8} and st.by_rmdsl(7) and not st.by_rmdsl(8)
    assert st.apply_trade(fill(8, at(2), "12.5")) == "duplicate"


def test_the_arrays_of_ids_keep_keys_in_any_order() -> None:
    keys, pairs = IntSet(), IntPairs()
    for k in (5, -3, 9, 0, 7, -3, 9):
        keys.add(k)
        a, b = pairs.get(k)
        pairs.set(k, a + 1, b + k)
    assert len(keys) == 5 and -3 in keys and 4 not in keys
    assert pairs.get(-3) == (2, -6) and pairs.get(9) == (2, 18) and pairs.get(4) == (0, 0)
    assert isinstance(keys._ids, array) and list(keys._ids) == sorted(keys._ids)
    keys.clear()
    pairs.clear()
    assert len(keys) == len(pairs) == 0


@settings(max_examples=60)
@given(
    s.lists(
        s.tuples(s.integers(0, 10**15), MONEY, s.booleans(), s.booleans()),
        max_size=40,
    )
)
def test_past_fills_give_back_the_closed_days_fills_as_given(
    rows: list[tuple[int, Decimal, bool, bool]],
) -> None:
    """The closed days' fills kept for the windows (rmdsl.engine.history.PastFills): the
    same fills in the same order, each net P&L with its digits and exponent."""
    given_fills = [(trade_id, row) for trade_id, row in enumerate(rows, 1)]
    kept = list(PastFills(given_fills).items())
    assert kept == given_fills
    assert [f[1].as_tuple() for _, f in kept] == [f[1].as_tuple() for _, f in given_fills]
