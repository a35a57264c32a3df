"""The language's runtime functions (rmdsl.lang.context.RuntimeFunctions) over one account's state.

`fills(1h)`, `contracts("MNQ")`, `tick_value("ES")` and the others read the
engine's state through these: the compiled rules call them by name.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from rmdsl.engine.windows import FillWindow

if TYPE_CHECKING:
    from rmdsl.engine.history import DaysFunctions
    from rmdsl.engine.state import AccountState


class Functions:
    """The language's runtime functions (rmdsl.lang.context.RuntimeFunctions) over one state."""

    __slots__ = ("_s",)

    def __init__(self, state: AccountState) -> None:
        self._s = state

    def contracts(self, symbol: str) -> int:
        return self._s.contracts_of(symbol)

    @property
    def days(self) -> DaysFunctions:
        return self._s.history.days_fn

    def fills(self, window_ms: int) -> int:
        return self._trailing(FillWindow.fills, window_ms)

    def trades(self, window_ms: int) -> int:
        return self._trailing(FillWindow.trades, window_ms)

    def losses(self, window_ms: int) -> int:
        return self._trailing(FillWindow.losses, window_ms)

    def pnl(self, window_ms: int) -> Decimal:
        return self._trailing(FillWindow.pnl, window_ms)

    def _trailing[N: (int, Decimal)](self, count: Callable[[FillWindow, int], N], ms: int) -> N:
        """`count` over today's fills in the window, plus the closed days' fills when the window
        reaches before the last reset (rmdsl.engine.history)."""
        s = self._s
        past = s.history.past_start(s.now, ms)
        today = count(s.fills, s.window(ms))
        return today if past is None else today + count(s.history.past, past)

    def tick_value(self, symbol: str) -> Decimal:
        return self._s.tick_value(symbol)

    def tick_size(self, symbol: str) -> Decimal:
        return self._s.tick_size(symbol)
