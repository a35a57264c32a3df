"""The language's runtime functions (rmdsl.lang.context.RuntimeFunctions) over one account's state.

`fills(1h)`, `contracts("MNQ")`, `tick_value("ES")` and the others read the
engine's state through these: the compiled rules call them by name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

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

    # a window reaching before the last reset adds the closed days' fills (rmdsl.engine.history)
    def fills(self, window_ms: int) -> int:
        s, past = self._s, self._s.history.past_start(self._s.now, window_ms)
        today = s.fills.fills(s.window(window_ms))
        return today + (0 if past is None else s.history.past.fills(past))

    def trades(self, window_ms: int) -> int:
        s, past = self._s, self._s.history.past_start(self._s.now, window_ms)
        today = s.fills.trades(s.window(window_ms))
        return today + (0 if past is None else s.history.past.trades(past))

    def losses(self, window_ms: int) -> int:
        s, past = self._s, self._s.history.past_start(self._s.now, window_ms)
        today = s.fills.losses(s.window(window_ms))
        return today + (0 if past is None else s.history.past.losses(past))

    def pnl(self, window_ms: int) -> Decimal:
        s, past = self._s, self._s.history.past_start(self._s.now, window_ms)
        today = s.fills.pnl(s.window(window_ms))
        return today + (Decimal(0) if past is None else s.history.past.pnl(past))

    def tick_value(self, symbol: str) -> Decimal:
        return self._s.tick_value(symbol)

    def tick_size(self, symbol: str) -> Decimal:
        return self._s.tick_size(symbol)
