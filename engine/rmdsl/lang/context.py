"""The runtime view compiled predicates read: EvalContext and its sub-views.

The engine owns one EvalContext per account, keeps the views current as
events arrive, and binds `position` / `trade` / `order` / `symbol` before
evaluating a scoped rule. Compiled code reads plain attributes
(`ctx.day.realized_pnl`) and calls `ctx.funcs.<fn>(...)`; nothing else.
Value representations are those of rmdsl.lang.types.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

ZERO = Decimal(0)


@dataclass(slots=True)
class AccountView:
    id: int = 0
    name: str = ""
    balance: Decimal = ZERO
    can_trade: bool = True
    # the account model (rmdsl.engine.account keeps these current; docs/language.md, "Account")
    start_balance: Decimal = ZERO  # params.account_size
    eod_high: Decimal = ZERO  # the highest end-of-day balance, taken at each reset
    mll: Decimal = ZERO  # min(eod_high - params.mll_distance, start_balance); moves at resets
    net: Decimal = ZERO  # balance + open P&L (+ realized P&L the balance does not hold yet)
    to_mll: Decimal = ZERO  # net - mll


@dataclass(slots=True)
class DayView:
    realized_pnl: Decimal = ZERO  # net: gross_pnl - fees
    gross_pnl: Decimal = ZERO  # the gateway's profitAndLoss summed
    fees: Decimal = ZERO  # of every fill, opening fills included
    unrealized_pnl: Decimal = ZERO
    pnl: Decimal = ZERO  # realized + unrealized
    peak_pnl: Decimal = ZERO
    drawdown: Decimal = ZERO  # peak_pnl - pnl
    trades: int = 0
    wins: int = 0
    losses: int = 0
    consecutive_losses: int = 0


@dataclass(slots=True)
class WeekView:
    """The trading week so far, today included (rmdsl.engine.history)."""

    realized_pnl: Decimal = ZERO  # net, like day.realized_pnl
    pnl: Decimal = ZERO  # realized + today's unrealized


@dataclass(slots=True)
class PositionsView:
    count: int = 0
    contracts: int = 0  # gross
    net_contracts: int = 0  # long minus short
    unrealized_pnl: Decimal = ZERO
    exposure: int = 0  # working entry orders counted (rmdsl.engine.exposure)
    mini_equivalents: Decimal = ZERO  # micros as 1/10
    exposure_mini_equivalents: Decimal = ZERO


@dataclass(slots=True)
class PositionView:
    symbol: str = ""
    contract_id: str = ""
    side: str = "long"  # "long" | "short"
    size: int = 0
    avg_price: Decimal = ZERO
    mini_equivalents: Decimal = ZERO  # size, a micro as 1/10
    unrealized_pnl: Decimal = ZERO
    unrealized_ticks: Decimal = ZERO
    age: int = 0  # ms since opened
    has_stop: bool = False
    stop_ticks: Decimal = ZERO  # entry -> tightest stop, < 0 once it locks in profit; 0 if none


@dataclass(slots=True)
class TradeView:
    symbol: str = ""
    side: str = "buy"  # "buy" | "sell"
    size: int = 0
    price: Decimal = ZERO
    pnl: Decimal = ZERO  # net: gross_pnl - fees (an opening fill's is -fees)
    gross_pnl: Decimal = ZERO  # the gateway's profitAndLoss; 0 on opening fills
    fees: Decimal = ZERO
    is_close: bool = False
    by_rmdsl: bool = False  # a fill of a close rmdsl sent (rmdsl.engine.origin)


@dataclass(slots=True)
class OrderView:
    symbol: str = ""
    type: str = "limit"  # limit|market|stop_limit|stop|trailing_stop|join_bid|join_ask
    side: str = "buy"
    size: int = 0
    price: Decimal = ZERO  # limit price, 0 when none
    stop_price: Decimal = ZERO  # 0 when none
    age: int = 0  # ms since placed
    is_entry: bool = False  # could open or add (rmdsl.engine.exposure)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class NowView:
    """`now` itself compares as a datetime; `.time/.date/.weekday` are in the ruleset's timezone.

    The engine moves it on every event (`move`), but most events run no rule that reads it
    (a quote's rules read P&L): the local time is worked out at the first read after a move,
    not at each move (docs/performance.md, "Less work per event").
    """

    __slots__ = ("_at", "_local", "_tz")

    def __init__(self, value: dt.datetime = _EPOCH) -> None:
        self.set(value)

    def set(self, local: dt.datetime) -> None:
        """Now is `local`, already in the ruleset's timezone."""
        self._at: dt.datetime = local
        self._tz: dt.tzinfo | None = None
        self._local: dt.datetime | None = local

    def move(self, at: dt.datetime, tz: dt.tzinfo) -> None:
        """Now is `at` (any timezone), read in `tz`."""
        self._at = at
        self._tz = tz
        self._local = None

    @property
    def value(self) -> dt.datetime:
        local = self._local
        if local is None:
            local = self._local = self._at.astimezone(self._tz)
        return local

    @property
    def time(self) -> dt.time:
        return self.value.time()

    @property
    def date(self) -> dt.date:
        return self.value.date()

    @property
    def weekday(self) -> int:
        return self.value.weekday()


_MS = dt.timedelta(milliseconds=1)


class SessionView:
    """`session.*`; `ends_in` (ms until the open session closes, 0 when closed) is worked out
    at its first read after the clock moves, like NowView's local time."""

    __slots__ = ("_at", "_end", "_ends_in", "fills", "open")

    def __init__(self) -> None:
        self.open = False
        self.fills = 0  # fills since the current (or last) session opened
        self._end: dt.datetime | None = None
        self._at = _EPOCH
        self._ends_in: int | None = 0

    def move(self, at: dt.datetime, end: dt.datetime | None) -> None:
        """Now is `at`; the open session ends at `end` (None: closed)."""
        self._at, self._end, self._ends_in = at, end, None

    @property
    def ends_in(self) -> int:
        ends_in = self._ends_in
        if ends_in is None:
            end = self._end
            ends_in = self._ends_in = (end - self._at) // _MS if end is not None else 0
        return ends_in


class DaysFunctions(Protocol):
    """`days(N).realized_pnl` / `days(N).pnl`: the last N trading days, today included."""

    def realized_pnl(self, days: int) -> Decimal: ...
    def pnl(self, days: int) -> Decimal: ...


class NoDays:
    def realized_pnl(self, days: int) -> Decimal:
        return ZERO

    def pnl(self, days: int) -> Decimal:
        return ZERO


class RuntimeFunctions(Protocol):
    """The functions of the language that need engine state (durations in ms)."""

    @property
    def days(self) -> DaysFunctions: ...

    def contracts(self, symbol: str) -> int: ...
    def fills(self, window_ms: int) -> int: ...
    def trades(self, window_ms: int) -> int: ...
    def losses(self, window_ms: int) -> int: ...
    def pnl(self, window_ms: int) -> Decimal: ...
    def tick_value(self, symbol: str) -> Decimal: ...
    def tick_size(self, symbol: str) -> Decimal: ...


class NoFunctions:
    """Functions over an empty account: for tests and `check`-time evaluation."""

    days: DaysFunctions = NoDays()

    def contracts(self, symbol: str) -> int:
        return 0

    def fills(self, window_ms: int) -> int:
        return 0

    def trades(self, window_ms: int) -> int:
        return 0

    def losses(self, window_ms: int) -> int:
        return 0

    def pnl(self, window_ms: int) -> Decimal:
        return ZERO

    def tick_value(self, symbol: str) -> Decimal:
        return ZERO

    def tick_size(self, symbol: str) -> Decimal:
        return ZERO


@dataclass(slots=True)
class EvalContext:
    account: AccountView = field(default_factory=AccountView)
    day: DayView = field(default_factory=DayView)
    week: WeekView = field(default_factory=WeekView)
    positions: PositionsView = field(default_factory=PositionsView)
    now: NowView = field(default_factory=NowView)
    session: SessionView = field(default_factory=SessionView)
    params: dict[str, object] = field(default_factory=dict)
    funcs: RuntimeFunctions = field(default_factory=NoFunctions)
    # bound per scoped evaluation; None outside their scope
    position: PositionView | None = None
    trade: TradeView | None = None
    order: OrderView | None = None
    symbol: str | None = None
