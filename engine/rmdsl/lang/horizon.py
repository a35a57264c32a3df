"""How far back the language can look: the trailing windows and days(N) (docs/language.md,
"Periods beyond the day").

The engine keeps the results of HISTORY_DAYS trading days and the fills of WINDOW_DAYS
days (rmdsl.engine.history); a window longer than that is a check error (RM169), never
a silently shorter sum. The argument is judged when it is a literal or a param.
"""

from __future__ import annotations

from collections.abc import Mapping

from rmdsl.lang import ast
from rmdsl.lang.types import Type

HISTORY_DAYS = 400  # days(N): N in 1..HISTORY_DAYS (today included)
WINDOW_DAYS = 31  # fills(d), trades(d), losses(d), pnl(d): d at most this many days
WINDOW_MS = WINDOW_DAYS * 86_400_000
WINDOW_FUNCTIONS = frozenset({"fills", "trades", "losses", "pnl"})


def _constant(arg: ast.Expr, params: Mapping[str, tuple[Type, object]]) -> object:
    """The argument's value when it is known before run time (a literal, a param), else None."""
    if isinstance(arg, ast.Literal):
        return arg.value
    if isinstance(arg, ast.Name) and arg.path.startswith("params."):
        declared = params.get(arg.path.removeprefix("params."))
        return declared[1] if declared is not None else None
    return None


def too_long(call: ast.Call, params: Mapping[str, tuple[Type, object]]) -> tuple[str, str] | None:
    """(message, hint) when the call's window is longer than what the engine keeps."""
    if len(call.args) != 1:
        return None
    value = _constant(call.args[0], params)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    if call.func in WINDOW_FUNCTIONS and value > WINDOW_MS:
        days = value / 86_400_000
        return (
            f"`{call.func}` over {days:g} days: the fills of {WINDOW_DAYS} days are kept",
            f"use days(N).realized_pnl for longer periods (up to {HISTORY_DAYS} trading days)",
        )
    if call.func.startswith("days.") and not 1 <= value <= HISTORY_DAYS:
        return (
            f"days({value}): the results of {HISTORY_DAYS} trading days are kept",
            f"N is 1 (today) to {HISTORY_DAYS}",
        )
    return None
