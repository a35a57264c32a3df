"""The functions of the language: their argument and result types, what they read.

Declared once, like the names in rmdsl.lang.schema: the checker types calls with it, the
code generator calls `ctx.funcs.<name>` for the runtime ones, and `rmdsl schema` and
docs/language.md list it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rmdsl.lang.schema import LIVE_TRIGGERS, PNL_TRIGGERS, Trigger
from rmdsl.lang.types import DURATION, INT, MONEY, NUMBER, STRING, Type


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    params: tuple[Type, ...]  # exact types; `numeric` functions are special-cased below
    result: Type | None  # None: same as the (unified) argument type
    doc: str
    triggers: frozenset[Trigger]
    runtime: bool  # True: calls ctx.funcs.<name>

    def signature(self, params: str) -> str:
        """How a call is written: `pnl(duration)`, and `days(int).realized_pnl` for a member."""
        head, _, member = self.name.partition(".")
        return f"{head}({params}).{member}" if member else f"{head}({params})"


_NUMERIC_FNS = ("abs", "min", "max", "round", "floor", "ceil")
# abs/min/max/round/floor/ceil take int, number, money or duration (min/max: 2+ args of one
# type); round/floor/ceil of number give int, of money give money (to the cent for round).

FUNCTIONS: Mapping[str, FunctionSpec] = {
    f.name: f
    for f in (
        FunctionSpec("abs", (), None, "absolute value", frozenset(), False),
        FunctionSpec("min", (), None, "smallest of two or more values", frozenset(), False),
        FunctionSpec("max", (), None, "largest of two or more values", frozenset(), False),
        FunctionSpec("round", (), None, "round half-even (money: to the cent)", frozenset(), False),
        FunctionSpec("floor", (), None, "round down", frozenset(), False),
        FunctionSpec("ceil", (), None, "round up", frozenset(), False),
        FunctionSpec(
            "contracts",
            (STRING,),
            INT,
            "open contracts in a symbol",
            frozenset({Trigger.POSITION}),
            True,
        ),
        FunctionSpec(
            "fills",
            (DURATION,),
            INT,
            "the trader's fills in the trailing window (not rmdsl's)",
            PNL_TRIGGERS,
            True,
        ),
        FunctionSpec(
            "trades",
            (DURATION,),
            INT,
            "the trader's closed trades in the window",
            PNL_TRIGGERS,
            True,
        ),
        FunctionSpec(
            "losses",
            (DURATION,),
            INT,
            "the trader's closing fills in the window with a net loss (trade.pnl < 0)",
            PNL_TRIGGERS,
            True,
        ),
        FunctionSpec(
            "pnl",
            (DURATION,),
            MONEY,
            "net realized P&L of the window's fills, opening fills' fees included (rmdsl's too)",
            PNL_TRIGGERS,
            True,
        ),
        FunctionSpec(
            "days.realized_pnl",
            (INT,),
            MONEY,
            "days(N).realized_pnl: net realized P&L of the last N trading days, today included",
            PNL_TRIGGERS,
            True,
        ),
        FunctionSpec(
            "days.pnl",
            (INT,),
            MONEY,
            "days(N).pnl: days(N).realized_pnl + open P&L",
            PNL_TRIGGERS | LIVE_TRIGGERS,
            True,
        ),
        FunctionSpec(
            "tick_value", (STRING,), MONEY, "money per tick per contract", frozenset(), True
        ),
        FunctionSpec("tick_size", (STRING,), NUMBER, "price increment", frozenset(), True),
        FunctionSpec(
            "lookup",
            (),
            None,
            "lookup(map, key, default): the map's entry for key, else default",
            frozenset(),
            False,
        ),
        FunctionSpec(
            "ticks",
            (MONEY, STRING),
            NUMBER,
            "money / tick_value(symbol) (0 if unknown)",
            frozenset(),
            False,
        ),
    )
}
NUMERIC_FUNCTIONS = frozenset(_NUMERIC_FNS)
