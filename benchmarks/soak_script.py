"""One round of the soak's breaching session: the trader's steps, and where the kill lands.

A round (times in units of the grace G, randomised per round):

    0      MNQ back to 21000; buy 1 MNQ, no stop         -> a grace breach at G
    0.15G  buy 2 more MNQ (80 %)                         -> over the limit: reduce to 2
    0.30G  sell 1 ES with a buy stop above (70 %)        -> protected: not a breach
    0.40G  a resting MNQ buy limit far below (50 %)      -> an order (exposure if locked)
    0.55G  MNQ drops 12..45 points (25 %: 5 points; in the session's blow-up round
           80..100 points: the daily loss)
    0.60G  the trader closes MNQ at that loss (70 %,     -> a cooldown, maybe the daily loss;
           always in the blow-up round)                    else the grace close makes the loss
    G+0.3  revenge: buy 1 MNQ, with a stop (40 %),       -> exposure if a lockout is in force,
           or without one (42 %)                           else a grace breach at 2G+0.3
    G+0.5  a resting MNQ buy limit (50 %)                -> exposure if a lockout is in force
    G+0.7  MNQ back to 21000

Under the daily loss lockout (from the blow-up round of a session, its middle
one, or earlier) every position and order of a round is a breach to police at
once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from rmdsl.broker.simgateway import GatewayRejection, SimGateway

Act = Callable[[SimGateway, str], None]
BASE_MNQ = 21000


@dataclass(frozen=True, slots=True)
class Step:
    at: float  # seconds into the round
    name: str
    breach: bool  # may start a breach: a kill right after it is the interesting moment
    act: Act
    unprotected: bool = False  # opens a position without a stop: a grace breach at + G


@dataclass(frozen=True, slots=True)
class KillPlan:
    at: float  # seconds into the round
    mode: str  # "uniform" | "after <step>"
    down_s: float  # the daemon stays down this long (the round goes on)
    start_kill_s: float | None  # also kill the restarted daemon this long after its spawn

    def describe(self) -> str:
        again = (
            "" if self.start_kill_s is None else f", again {self.start_kill_s:.2f} s into its start"
        )
        return f"kill at {self.at:.2f} s ({self.mode}), down {self.down_s:.2f} s{again}"


def _buy(contract: str, size: int) -> Act:
    def act(gw: SimGateway, account: str) -> None:
        gw.trader_place(contract, "buy", "market", size, account=account)

    return act


def _place(
    contract: str,
    side: str,
    kind: str,
    *,
    limit_price: float | None = None,
    stop_price: float | None = None,
) -> Act:
    def act(gw: SimGateway, account: str) -> None:
        gw.trader_place(
            contract,
            side,
            kind,
            1,
            limit_price=limit_price,
            stop_price=stop_price,
            account=account,
        )

    return act


def _quote(price: float) -> Act:
    def act(gw: SimGateway, account: str) -> None:
        gw.set_quote("MNQ", price)

    return act


def _close(contract: str) -> Act:
    def act(gw: SimGateway, account: str) -> None:
        gw.trader_close(contract, account=account)

    return act


def _both(first: Act, second: Act) -> Act:
    def act(gw: SimGateway, account: str) -> None:
        first(gw, account)
        second(gw, account)

    return act


def round_steps(rng: random.Random, grace_s: float, blowup: bool = False) -> list[Step]:
    """The trader's steps of one round (see the module docstring)."""
    g = grace_s
    drop = 5 if rng.random() < 0.25 else rng.randint(12, 45)
    if blowup:
        drop = rng.randint(80, 100)
    low = BASE_MNQ - drop
    steps = [
        Step(0.0, "buy 1 MNQ, no stop", True, _both(_quote(BASE_MNQ), _buy("MNQ", 1)), True),
    ]
    if rng.random() < 0.8:
        steps.append(Step(0.15 * g, "buy 2 MNQ over the limit", True, _buy("MNQ", 2)))
    if rng.random() < 0.7:
        protect = _place("ES", "buy", "stop", stop_price=6010)
        es = _both(_place("ES", "sell", "market"), protect)
        steps.append(Step(0.3 * g, "sell 1 ES with a stop", True, es))
    if rng.random() < 0.5:
        limit = _place("MNQ", "buy", "limit", limit_price=BASE_MNQ - 400)
        steps.append(Step(0.4 * g, "resting MNQ limit", True, limit))
    steps.append(Step(0.55 * g, f"MNQ down {drop} points", False, _quote(low)))
    if rng.random() < 0.7 or blowup:
        steps.append(Step(0.6 * g, "close MNQ at a loss", True, _close("MNQ")))
    if rng.random() < 0.4:
        stop = _place("MNQ", "sell", "stop", stop_price=low - 20)
        steps.append(Step(g + 0.3, "revenge MNQ with a stop", True, _both(_buy("MNQ", 1), stop)))
    elif rng.random() < 0.7:
        steps.append(Step(g + 0.3, "revenge MNQ, no stop", True, _buy("MNQ", 1), True))
    if rng.random() < 0.5:
        limit = _place("MNQ", "buy", "limit", limit_price=BASE_MNQ - 400)
        steps.append(Step(g + 0.5, "resting MNQ limit", True, limit))
    steps.append(Step(g + 0.7, "MNQ back up", False, _quote(BASE_MNQ)))
    return steps


def kill_plan(
    rng: random.Random, steps: list[Step], max_down_s: float, start_kill_p: float
) -> KillPlan:
    """Half the kills at a uniform moment of the round, half just after a breaching step."""
    end = steps[-1].at
    breaching = [s for s in steps if s.breach]
    if rng.random() < 0.5 or not breaching:
        at, mode = rng.uniform(0.0, end), "uniform"
    else:
        step = rng.choice(breaching)
        at, mode = step.at + rng.uniform(0.0, 0.3), f"after '{step.name}'"
    start_kill = rng.uniform(0.2, 2.5) if rng.random() < start_kill_p else None
    return KillPlan(at, mode, rng.uniform(0.0, max_down_s), start_kill)


def run_step(gw: SimGateway, account: str, step: Step, notes: list[str]) -> None:
    """One trader step; a gateway refusal (e.g. closing what the daemon just closed) is noted."""
    try:
        step.act(gw, account)
    except GatewayRejection as exc:
        notes.append(f"{step.name}: {exc.message}")


def flatten_by_trader(gw: SimGateway, account_id: int) -> None:
    """End of a cycle: the trader cancels every working order and closes every position."""
    market = gw.market
    for order in market.book.for_account(account_id, open_only=True):
        market.cancel_order(account_id, order.id)
    for pos in market.ledger.open_positions(account_id):
        market.close_position(account_id, pos.contract_id)
