"""The trading day's fills held as machine integers, not as Python objects per fill.

An account keeps every fill of its trading day until the daily reset (dedupe, voids, the
trailing windows, a rebuild in trade time), and a busy account makes hundreds a day: held
as a dict of tuples of `datetime` and `Decimal` objects each fill cost ~250 bytes here
alone (docs/performance.md, "Cheaper fills of the day (r14k)"). `DayFills` keeps the same
mapping (trade id -> `Fill`) in parallel `array`s sorted by trade id: 36 bytes a fill.

Money stays exact: a `Decimal` is kept as its coefficient and exponent (`encode`), and
`decode` gives back an equal Decimal with the same digits and exponent; what does not fit
(a coefficient beyond 64 bits, a negative zero, a time that is not UTC) is kept as it came,
in a side dict. A value read back is made on demand: only the rare paths (a void, a fill
out of order, the reset, a late fill of the closed day) read whole fills.
"""

from __future__ import annotations

import bisect
import datetime as dt
from array import array
from collections.abc import Iterator, MutableMapping
from decimal import Decimal

from rmdsl.engine.windows import Fill

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)
_I64 = 1 << 63
# _meta bits: the flags, then each Decimal's exponent + 128 in a byte
VOIDED, OURS, OPENING, WIDE = 1, 2, 4, 8


def encode(value: Decimal) -> tuple[int, int] | None:
    """(coefficient, exponent) with value == coefficient * 10**exponent, digits and exponent
    kept; None when it does not fit 64 bits and a signed byte (or is a negative zero, NaN or
    infinite): the caller keeps such a value as it is."""
    sign, _, exp = value.as_tuple()
    if not isinstance(exp, int) or not -128 <= exp <= 127:
        return None
    coef = int(value.scaleb(-exp))
    if not -_I64 <= coef < _I64 or (sign and not coef):
        return None
    return coef, exp


def decode(coef: int, exp: int) -> Decimal:
    """The Decimal `encode` took apart: equal, with the same digits and exponent."""
    return Decimal(coef).scaleb(exp)


def epoch_us(ts: dt.datetime) -> int:
    return (ts - EPOCH) // _US


def find(ids: array[int], key: int) -> int:
    """Index of key in the sorted ids, -1 when absent (a key above the last: at once)."""
    if not ids:
        return -1
    last = ids[-1]
    if key >= last:  # a new id, or the newest (its other events): no search
        return len(ids) - 1 if key == last else -1
    i = bisect.bisect_left(ids, key)
    return i if i < len(ids) and ids[i] == key else -1


class IntSet:
    """A set of integers (ids) as one sorted array: 8 bytes each, not a set's ~60."""

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        self._ids = array("q")

    def __contains__(self, key: int) -> bool:
        return find(self._ids, key) >= 0

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, key: int) -> None:
        if find(self._ids, key) < 0:
            self._ids.insert(bisect.bisect_left(self._ids, key), key)

    def clear(self) -> None:
        del self._ids[:]


class IntPairs:
    """key -> (int, int), as sorted arrays (the fill book's orders: 24 bytes each)."""

    __slots__ = ("_a", "_b", "_ids")

    def __init__(self) -> None:
        self._ids, self._a, self._b = array("q"), array("q"), array("q")

    def __len__(self) -> int:
        return len(self._ids)

    def keys(self) -> list[int]:
        return self._ids.tolist()

    def get(self, key: int) -> tuple[int, int]:
        """The pair of key, (0, 0) when unknown."""
        i = find(self._ids, key)
        return (0, 0) if i < 0 else (self._a[i], self._b[i])

    def set(self, key: int, a: int, b: int) -> None:
        ids = self._ids
        if not ids or key > ids[-1]:  # a new order, the highest id yet
            ids.append(key)
            self._a.append(a)
            self._b.append(b)
            return
        i = find(ids, key)
        if i >= 0:
            self._a[i], self._b[i] = a, b
            return
        i = bisect.bisect_left(ids, key)
        self._ids.insert(i, key)
        self._a.insert(i, a)
        self._b.insert(i, b)

    def clear(self) -> None:
        for column in (self._ids, self._a, self._b):
            del column[:]


class DayFills(MutableMapping[int, Fill]):
    """Trade id -> (ts, gross or None, voided, by rmdsl, fees), as a dict of those tuples
    would be (`AccountState.trades`), held in arrays sorted by trade id: a new fill, whose id
    is almost always the highest, is an append; a lookup is a binary search."""

    __slots__ = ("_fees", "_gross", "_ids", "_meta", "_us", "_wide")

    def __init__(self, fills: dict[int, Fill] | None = None) -> None:
        self._ids = array("q")
        self._us = array("q")  # the fill's time, epoch microseconds
        self._gross = array("q")  # coefficients; the exponents are in _meta
        self._fees = array("q")
        self._meta = array("i")
        self._wide: dict[int, Fill] = {}  # the rare fill that does not fit the arrays
        for trade_id, fill in (fills or {}).items():
            self[trade_id] = fill

    def _row(self, trade_id: int) -> int:
        return find(self._ids, trade_id)  # a new fill, the highest id yet: one compare

    def __contains__(self, trade_id: object) -> bool:
        return isinstance(trade_id, int) and self._row(trade_id) >= 0

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids.tolist())  # a copy: a fill may be set while iterating

    def get(self, trade_id: int, default: Fill | None = None) -> Fill | None:  # type: ignore[override]
        i = self._row(trade_id)
        return default if i < 0 else self._fill(i)

    def __getitem__(self, trade_id: int) -> Fill:
        i = self._row(trade_id)
        if i < 0:
            raise KeyError(trade_id)
        return self._fill(i)

    def flags(self, trade_id: int) -> int | None:
        """VOIDED | OURS of a known fill (None: unknown), without making its tuple."""
        i = self._row(trade_id)
        return None if i < 0 else self._meta[i] & (VOIDED | OURS)

    def _fill(self, i: int) -> Fill:
        meta = self._meta[i]
        if meta & WIDE:
            return self._wide[self._ids[i]]
        ts = EPOCH + dt.timedelta(microseconds=self._us[i])
        gross = None if meta & OPENING else decode(self._gross[i], (meta >> 8 & 0xFF) - 128)
        fees = decode(self._fees[i], (meta >> 16 & 0xFF) - 128)
        return ts, gross, bool(meta & VOIDED), bool(meta & OURS), fees

    def __setitem__(self, trade_id: int, fill: Fill) -> None:
        row = _encoded(fill)
        ids = self._ids
        if not ids or trade_id > ids[-1]:  # the common case: a new fill, the highest id yet
            ids.append(trade_id)
            self._us.append(row[0])
            self._gross.append(row[1])
            self._fees.append(row[2])
            self._meta.append(row[3])
            if row[3] & WIDE:
                self._wide[trade_id] = fill
            return
        i = self._row(trade_id)
        if i < 0:
            i = bisect.bisect_left(self._ids, trade_id)
            for column, value in zip(self._columns(), (trade_id, *row), strict=True):
                column.insert(i, value)  # an append when i is the end
        else:
            self._wide.pop(trade_id, None)
            self._us[i], self._gross[i], self._fees[i], self._meta[i] = row
        if row[3] & WIDE:
            self._wide[trade_id] = fill

    def __delitem__(self, trade_id: int) -> None:
        i = self._row(trade_id)
        if i < 0:
            raise KeyError(trade_id)
        for column in self._columns():
            del column[i]
        self._wide.pop(trade_id, None)

    def _columns(self) -> tuple[array[int], ...]:
        return self._ids, self._us, self._gross, self._fees, self._meta

    def clear(self) -> None:
        for column in self._columns():
            del column[:]
        self._wide.clear()

    def in_trade_time(self) -> list[tuple[int, Fill]]:
        """Every fill, by its time, then by trade id (how a day is replayed)."""
        order = sorted(range(len(self._ids)), key=lambda i: (self._us[i], self._ids[i]))
        return [(self._ids[i], self._fill(i)) for i in order]


def _encoded(fill: Fill) -> tuple[int, int, int, int]:
    """(epoch us, gross coefficient, fees coefficient, meta) of a fill; meta has WIDE set
    when a value does not fit (the fill is then kept whole, its row only holds the place)."""
    ts, gross, voided, ours, fees = fill
    meta = (VOIDED if voided else 0) | (OURS if ours else 0)
    us = epoch_us(ts)  # the order in trade time, wide or not
    g = (0, 0) if gross is None else encode(gross)
    f = encode(fees)
    if g is None or f is None or ts.tzinfo is not dt.UTC:  # another zone: kept as it came
        return us, 0, 0, meta | WIDE
    meta |= (OPENING if gross is None else 0) | (g[1] + 128) << 8 | (f[1] + 128) << 16
    return us, g[0], f[0], meta
