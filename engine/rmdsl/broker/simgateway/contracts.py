"""Contracts, fees and the clock of the simulated gateway: static tables -> gateway payloads.

Tick sizes and values are those of the TopstepX equity-index futures
(docs/simgateway.md); fees are per contract per side (per "half-turn"). The
gateway names two roots differently from the exchange symbols: E-mini S&P is
`CON.F.US.EP.*` and E-mini Nasdaq `CON.F.US.ENQ.*` (the official Contract
search example), so the simulator does too and every test goes through the
mapping real accounts need (rmdsl.contract.events.symbol_of).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

CONTRACT_MONTH = "Z25"

# symbol -> (gateway root, description, tick size, tick value, default price, fee per side)
_TABLE: dict[str, tuple[str, str, str, str, str, str]] = {
    "MNQ": ("MNQ", "Micro E-mini Nasdaq-100", "0.25", "0.50", "21000.00", "0.37"),
    "NQ": ("ENQ", "E-mini Nasdaq-100", "0.25", "5.00", "21000.00", "1.40"),
    "MES": ("MES", "Micro E-mini S&P 500", "0.25", "1.25", "6000.00", "0.37"),
    "ES": ("EP", "E-mini S&P 500", "0.25", "12.50", "6000.00", "1.40"),
    "MYM": ("MYM", "Micro E-mini Dow Jones", "1", "0.50", "44000", "0.37"),
    "YM": ("YM", "E-mini Dow Jones", "1", "5.00", "44000", "1.40"),
    "M2K": ("M2K", "Micro E-mini Russell 2000", "0.1", "0.50", "2300.0", "0.37"),
    "RTY": ("RTY", "E-mini Russell 2000", "0.1", "5.00", "2300.0", "1.40"),
}

DEFAULT_FEE = Decimal("0.50")


@dataclass(frozen=True, slots=True)
class ContractSpec:
    symbol: str  # the exchange symbol traders write (ES)
    root: str  # the gateway's root in ids (EP)
    description: str
    tick_size: Decimal
    tick_value: Decimal
    default_price: Decimal
    fee: Decimal

    @property
    def contract_id(self) -> str:
        return f"CON.F.US.{self.root}.{CONTRACT_MONTH}"

    @property
    def name(self) -> str:
        return f"{self.symbol}{CONTRACT_MONTH[0]}{CONTRACT_MONTH[-1]}"

    @property
    def symbol_id(self) -> str:
        return f"F.US.{self.root}"

    @property
    def point_value(self) -> Decimal:
        return self.tick_value / self.tick_size

    def payload(self) -> dict[str, Any]:
        """The Contract object of /Contract/search and /Contract/searchById."""
        return {
            "id": self.contract_id,
            "name": self.name,
            "description": self.description,
            "tickSize": float(self.tick_size),
            "tickValue": float(self.tick_value),
            "activeContract": True,
            "symbolId": self.symbol_id,
        }


def build_contracts(fees: Mapping[str, Decimal] | None = None) -> dict[str, ContractSpec]:
    """Contract id -> spec, with per-symbol fee overrides (unknown symbols ignored)."""
    fees = fees or {}
    specs = {}
    for symbol, (root, desc, tick, value, price, fee) in _TABLE.items():
        spec = ContractSpec(
            symbol=symbol,
            root=root,
            description=desc,
            tick_size=Decimal(tick),
            tick_value=Decimal(value),
            default_price=Decimal(price),
            fee=Decimal(fees.get(symbol, Decimal(fee))),
        )
        specs[spec.contract_id] = spec
    return specs


class SimClock:
    """Gateway time: a start instant advancing at `speed` times the monotonic clock."""

    def __init__(self, start: dt.datetime | None = None, speed: float = 1.0) -> None:
        self._start = start or dt.datetime.now(dt.UTC)
        self._anchor = time.monotonic()
        self._speed = speed

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=(time.monotonic() - self._anchor) * self._speed)

    def reset(self, start: dt.datetime | None = None, speed: float | None = None) -> None:
        """Re-anchor: time continues from `start` (or now) at the new speed."""
        self._start = start or self.now()
        self._anchor = time.monotonic()
        if speed is not None:
            self._speed = speed


def iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat()


def money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))
