"""The demo's money, counted twice: by rmdsl (its day) and by the gateway (its trade tape).

The gateway reports each fill's profitAndLoss gross and its fees apart (opening
fills included); rmdsl's day is net. The summary shows both, so a reader can
check that they add up to the cent: net = gross - fees = the balance's change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rmdsl.lang.context import DayView

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Money:
    gross: Decimal
    fees: Decimal
    net: Decimal
    fills: int

    def as_json(self) -> dict[str, Any]:
        return {
            "gross": str(self.gross),
            "fees": str(self.fees),
            "net": str(self.net),
            "fills": self.fills,
        }


@dataclass(frozen=True, slots=True)
class DemoMoney:
    rmdsl: Money  # the engine's day: day.gross_pnl, day.fees, day.realized_pnl
    gateway: Money  # summed from the gateway's Trade payloads
    balance_change: Decimal  # the gateway account's balance, end minus start
    tape: tuple[Mapping[str, Any], ...] = ()  # the gateway's Trade payloads, as sent

    @property
    def adds_up(self) -> bool:
        return self.rmdsl == self.gateway and self.balance_change == self.gateway.net

    def as_json(self) -> dict[str, Any]:
        return {
            "rmdsl": self.rmdsl.as_json(),
            "gateway": self.gateway.as_json(),
            "balance_change": str(self.balance_change),
            "adds_up": self.adds_up,
            "gateway_fills": [
                {k: t.get(k) for k in ("id", "contractId", "profitAndLoss", "fees", "voided")}
                for t in self.tape
            ],
        }


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def of_day(day: DayView, fills: int) -> Money:
    return Money(cents(day.gross_pnl), cents(day.fees), cents(day.realized_pnl), fills)


def of_tape(trades: Iterable[Mapping[str, Any]]) -> Money:
    """Sum the gateway's Trade payloads (voided fills never count)."""
    gross = fees = ZERO
    fills = 0
    for t in trades:
        if t.get("voided"):
            continue
        fills += 1
        if t.get("profitAndLoss") is not None:
            gross += Decimal(str(t["profitAndLoss"]))
        fees += Decimal(str(t.get("fees") or 0))
    return Money(cents(gross), cents(fees), cents(gross - fees), fills)
