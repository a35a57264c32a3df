"""The demo's scripted trading session: timed trader actions that break the shipped Topstep rules.

Times are seconds of session (virtual) time; the gateway clock and the player
run `speed` times faster than the wall clock. Each step says what the trader
does and which rule it should trip, so the demo can check itself at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DemoStep:
    at: float  # session seconds from the start of the script
    says: str  # what the screen shows when the step is played
    actions: tuple[Mapping[str, Any], ...] = field(default=())  # simgateway script bodies

    @property
    def kind(self) -> str:
        """What the screen labels the step: a trader action, a market move, or a note."""
        if any("trader" in a for a in self.actions):
            return "trader"
        return "market" if self.actions else "note"


@dataclass(frozen=True, slots=True)
class Expectation:
    """Met by an `ok` record of one of `rules` (any rule when empty) whose action starts with
    one of `actions` and, when given, whose reason contains `reason`."""

    rules: tuple[str, ...]
    actions: tuple[str, ...]
    what: str  # the story, for the summary
    reason: str = ""

    def met_by(self, rule: str, action: str, reason: str) -> bool:
        return (
            (not self.rules or rule in self.rules)
            and action.startswith(self.actions)
            and self.reason in reason
        )


def _place(contract: str, side: str, size: int, **extra: Any) -> Mapping[str, Any]:
    return {"trader": {"place": {"contract": contract, "side": side, "size": size, **extra}}}


def _quote(contract: str, price: float) -> Mapping[str, Any]:
    return {"quote": {"contract": contract, "price": price}}


STEPS: tuple[DemoStep, ...] = (
    DemoStep(
        0, "session open: MNQ 21000.00, ES 6000.00", (_quote("MNQ", 21000), _quote("ES", 6000))
    ),
    DemoStep(
        5,
        "buys 2 MNQ at market, places no stop loss (the grace timer starts)",
        (_place("MNQ", "buy", 2, type="market"),),
    ),
    DemoStep(
        20,
        "adds 2 MNQ: 4 open, the per-instrument limit is 2",
        (_place("MNQ", "buy", 2, type="market"),),
    ),
    DemoStep(90, "still no stop loss on MNQ..."),
    DemoStep(
        140,
        "buys 1 ES with a protective sell stop at 5980.00",
        (
            _place("ES", "buy", 1, type="market"),
            _place("ES", "sell", 1, type="stop", stopPrice=5980),
        ),
    ),
    DemoStep(150, "ES ticks down to 5998.00 (open loss $100)", (_quote("ES", 5998),)),
    DemoStep(
        160,
        "ES gaps down to 5989.00: open loss $550, past the daily limit",
        (_quote("ES", 5989),),
    ),
    DemoStep(
        205,
        "buys 1 MNQ while the account is locked out",
        (_place("MNQ", "buy", 1, type="market"),),
    ),
    DemoStep(215, "end of the scripted session"),
)

EXPECTED: tuple[Expectation, ...] = (
    Expectation(
        ("max_contracts_per_instrument", "max_contracts"),
        ("reduce_position",),
        "too many contracts -> reduced",
    ),
    Expectation(
        ("no_stop_loss_grace",), ("close_position", "flatten"), "no stop loss for 2m -> closed"
    ),
    Expectation(
        ("daily_unrealized_loss", "daily_combined_loss"),
        # daily_unrealized_loss closes by its cooldown's flatten: recorded as the lockout's
        ("close_position", "flatten", "lockout"),
        "open loss past the limit -> closed",
    ),
    Expectation(("daily_realized_loss",), ("lockout",), "daily loss limit -> locked out"),
    Expectation((), ("close_position",), "trade during the lockout -> closed", "locked out"),
)


def script_seconds() -> float:
    return STEPS[-1].at
