"""The language's value types and how each is represented at run time.

Runtime representation (the contract between the compiler and the engine):
bool -> bool, int -> int, number -> Decimal, money -> Decimal (USD, exact),
duration -> int milliseconds, time -> datetime.time, date -> datetime.date,
datetime -> datetime.datetime (tz-aware), weekday -> int (mon=0 .. sun=6),
string -> str, list<T> -> tuple.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Type:
    name: str
    elem: Type | None = None

    def __str__(self) -> str:
        return f"list<{self.elem}>" if self.elem is not None else self.name

    @property
    def is_list(self) -> bool:
        return self.elem is not None

    @property
    def is_numeric(self) -> bool:
        return self in (INT, NUMBER)


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


def list_of(elem: Type) -> Type:
    return Type("list", elem)


SCALARS = (BOOL, INT, NUMBER, MONEY, DURATION, TIME, DATE, DATETIME, WEEKDAY, STRING)
