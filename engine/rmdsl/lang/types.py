"""The language's value types and how each is represented at run time.

Runtime representation (the contract between the compiler and the engine):
bool -> bool, int -> int, number -> Decimal, money -> Decimal (USD, exact),
duration -> int milliseconds, time -> datetime.time, date -> datetime.date,
datetime -> datetime.datetime (tz-aware), weekday -> int (mon=0 .. sun=6),
string -> str, list<T> -> tuple, map<T> (string keys, e.g. per-symbol limits)
-> a read-only mapping (types.MappingProxyType) from str to T.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Type:
    name: str
    elem: Type | None = None

    def __str__(self) -> str:
        return f"{self.name}<{self.elem}>" if self.elem is not None else self.name

    @property
    def is_list(self) -> bool:
        return self.name == "list"

    @property
    def is_map(self) -> bool:
        return self.name == "map"

    @property
    def is_numeric(self) -> bool:
        return self in NUMERIC


BOOL = Type("bool")
INT = Type("int")
NUMBER = Type("number")
MONEY = Type("money")
DURATION = Type("duration")
TIME = Type("time")
DATE = Type("date")
DATETIME = Type("datetime")
WEEKDAY = Type("weekday")
STRING = Type("string")
# the type of an empty list literal: compatible with any list<T>
ANY = Type("any")

# kinds of types the typing rules and the code generator ask about
NUMERIC = frozenset({INT, NUMBER})
SIGNED = frozenset({INT, NUMBER, MONEY, DURATION})  # `-x` is defined
ORDERED = frozenset({INT, NUMBER, MONEY, DURATION, TIME, DATE, DATETIME, WEEKDAY})
CYCLIC = frozenset({TIME, WEEKDAY})  # ranges over these wrap when start > end


def list_of(elem: Type) -> Type:
    return Type("list", elem)


def map_of(elem: Type) -> Type:
    """A map from strings (symbol roots) to `elem`: only params hold maps (`lookup`, `in`)."""
    return Type("map", elem)


SCALARS = (BOOL, INT, NUMBER, MONEY, DURATION, TIME, DATE, DATETIME, WEEKDAY, STRING)

# A value of the language as the runtime holds it (see the module docstring): what a literal
# denotes and what a param holds.
Value = (
    bool
    | int
    | Decimal
    | str
    | dt.time
    | dt.date
    | dt.datetime
    | tuple["Value", ...]
    | Mapping[str, "Value"]
)
