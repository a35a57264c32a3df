"""The language's runtime functions (rmdsl.lang.context.RuntimeFunctions) over one account's state.

`fills(1h)`, `contracts("MNQ")`, `tick_value("ES")` and the others read the
engine's state through these: the compiled rules call them by name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rmdsl.engine.state import AccountState


class Functions:
    """The language's runtime functions (rmdsl.lang.context.RuntimeFunctions) over one state."""

    __slots__ = ("_s",)

    def __init__(self, state: AccountState) -> None:
        self._s = state

    def contracts(self, symbol: str) -> int:
        return self._s.contracts_of(symbol)

    def fills(self, window_ms: int) -> int:
        return self._s.fills.fills(self._s.window(window_ms))

    def trades(self, window_ms: int) -> int:
        return self._s.fills.trades(self._s.window(window_ms))

    def losses(self, window_ms: int) -> int:
        return self._s.fills.losses(self._s.window(window_ms))

    def pnl(self, window_ms: int) -> Decimal:
        return self._s.fills.pnl(self._s.window(window_ms))

    def tick_value(self, symbol: str) -> Decimal:
        return self._s.tick_value(symbol)

    def tick_size(self, symbol: str) -> Decimal:
        return self._s.tick_size(symbol)
