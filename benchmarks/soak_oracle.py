"""What the kill -9 soak judges the daemon by: breaches that stand, read from the gateway's ledger.

The oracle knows the soak ruleset's figures (SoakRules) and reads only what the
simulated gateway holds: its trade tape, its positions, its working orders. It
never asks the daemon. A breach stands from its due instant:

- `daily_loss_exposure`: the day's realized P&L reached the limit (flatten +
  lockout until the reset): any position or working order from then on;
- `cooldown_exposure`: a closing fill lost at least the cooldown threshold:
  any position or working order until the cooldown ends (judged until shortly
  before it ends, the daemon's clock being another process's);
- `no_stop_past_grace`: a position without a working stop on its closing side
  for longer than the grace, counted from when it became unprotected;
- `over_max_contracts`: more MNQ contracts than the limit.

Exposure under a lockout is the stronger breach: a position under one is not
judged for grace or size as well.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from rmdsl.broker.simgateway import SimGateway
from rmdsl.broker.simgateway.orders import SimOrder
from rmdsl.broker.simgateway.positions import SimPosition, TradeRecord
from rmdsl.contract.events import OrderType, Side

STOP_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)
MNQ = "CON.F.US.MNQ.Z25"
COOLDOWN_EDGE = dt.timedelta(milliseconds=500)  # the two clocks may differ a little


@dataclass(frozen=True, slots=True)
class SoakRules:
    """The figures of the soak ruleset; the oracle judges by the same ones."""

    grace_s: float
    cooldown_s: float
    cooldown_loss: Decimal = Decimal("-40")
    daily_loss: Decimal = Decimal("-300")
    max_mnq: int = 2

    def ruleset_yaml(self, reset: str) -> str:
        return f"""\
rmdsl: 1
name: kill9-soak
timezone: UTC
reset: "{reset}"
params:
  daily_loss: {{value: ${self.daily_loss}, stricter: higher}}
  max_mnq: {{value: {self.max_mnq}, stricter: lower}}
  cooldown_loss: {{value: ${self.cooldown_loss}, stricter: higher}}
rules:
  daily_realized_loss:
    when: day.realized_pnl <= params.daily_loss
    do: [flatten, lockout(until: reset)]
  losing_trade_cooldown:
    scope: trade
    when: trade.is_close and trade.pnl <= params.cooldown_loss
    do: [cooldown({_duration(self.cooldown_s)})]
  mnq_contracts:
    scope: symbol
    when: symbol == "MNQ" and contracts(symbol) > params.max_mnq
    do: [reduce_position(to: params.max_mnq)]
  no_stop_loss_grace:
    grace: {_duration(self.grace_s)}
""".replace("$-", "-$")


def _duration(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


@dataclass(frozen=True, slots=True)
class Breach:
    key: str  # stable while the same breach stands
    kind: str
    due: dt.datetime
    detail: str
    until: dt.datetime | None = None  # it stops counting then (a cooldown's end)


@dataclass(frozen=True, slots=True)
class Lock:
    kind: str  # "daily_loss" | "cooldown"
    ref: str
    start: dt.datetime
    end: dt.datetime | None  # None: until the reset (beyond the soak)


def pnl(trade: TradeRecord) -> Decimal | None:
    value = trade.payload["profitAndLoss"]
    return None if value is None else Decimal(str(value))


def account_trades(gw: SimGateway, account_id: int) -> list[TradeRecord]:
    return [t for t in gw.market.ledger.trades if t.account_id == account_id]


def locks(trades: list[TradeRecord], rules: SoakRules) -> list[Lock]:
    """Every lockout the ruleset puts in force, from the tape alone."""
    found: list[Lock] = []
    realized = Decimal(0)
    for trade in trades:
        loss = pnl(trade)
        if loss is None:
            continue
        realized += loss
        if realized <= rules.daily_loss and not any(lk.kind == "daily_loss" for lk in found):
            found.append(Lock("daily_loss", "day", trade.at, None))
        if loss <= rules.cooldown_loss:
            end = trade.at + dt.timedelta(seconds=rules.cooldown_s)
            found.append(Lock("cooldown", f"trade {trade.payload['id']}", trade.at, end))
    return found


def governing(all_locks: list[Lock], now: dt.datetime) -> Lock | None:
    """The lockout in force now (the daily one first, else the cooldown ending last)."""
    active = [
        lk
        for lk in all_locks
        if lk.start <= now and (lk.end is None or now < lk.end - COOLDOWN_EDGE)
    ]
    daily = [lk for lk in active if lk.end is None]
    if daily:
        return daily[0]
    return max(active, key=lambda lk: lk.end or now, default=None)


def protecting(order: SimOrder, pos: SimPosition) -> bool:
    closing = Side.SELL if pos.size > 0 else Side.BUY
    return (
        order.contract_id == pos.contract_id
        and order.type in STOP_TYPES
        and order.side is closing
        and order.status.is_working
    )


class Oracle:
    """Breaches standing on one account now; remembers when each position lost its stop."""

    def __init__(self, gw: SimGateway, account_id: int, rules: SoakRules) -> None:
        self.gw, self.account_id, self.rules = gw, account_id, rules
        self._unprotected_since: dict[int, dt.datetime] = {}

    def standing(self, now: dt.datetime) -> list[Breach]:
        market = self.gw.market
        trades = account_trades(self.gw, self.account_id)
        lock = governing(locks(trades, self.rules), now)
        positions = market.ledger.open_positions(self.account_id)
        orders = [o for o in market.book.for_account(self.account_id, open_only=True)]
        if lock is not None:
            return self._exposure(lock, positions, orders)
        found: list[Breach] = []
        for pos in positions:
            found.extend(self._position_breaches(pos, orders, trades, now))
        return found

    def _exposure(
        self, lock: Lock, positions: list[SimPosition], orders: list[SimOrder]
    ) -> list[Breach]:
        kind = f"{lock.kind}_exposure"
        found = [
            Breach(
                f"{kind}|{lock.ref}|position {p.id}",
                kind,
                max(lock.start, p.created),
                f"{p.contract_id} {p.size:+d} open under the {lock.kind} lockout ({lock.ref})",
                lock.end,
            )
            for p in positions
        ]
        found += [
            Breach(
                f"{kind}|{lock.ref}|order {o.id}",
                kind,
                max(lock.start, o.created),
                f"{o.type.name} order {o.id} working under the {lock.kind} lockout ({lock.ref})",
                lock.end,
            )
            for o in orders
            if o.type is not OrderType.MARKET
        ]
        return found

    def _position_breaches(
        self,
        pos: SimPosition,
        orders: list[SimOrder],
        trades: list[TradeRecord],
        now: dt.datetime,
    ) -> list[Breach]:
        found: list[Breach] = []
        if any(protecting(o, pos) for o in orders):
            self._unprotected_since[pos.id] = now  # a stop gone later restarts the grace there
        else:
            since = self._unprotected_since.setdefault(pos.id, pos.created)
            due = since + dt.timedelta(seconds=self.rules.grace_s)
            if now >= due:
                detail = f"{pos.contract_id} {pos.size:+d} without a stop since {since:%T.%f}"
                found.append(Breach(f"grace|position {pos.id}", "no_stop_past_grace", due, detail))
        if pos.contract_id == MNQ and abs(pos.size) > self.rules.max_mnq:
            last = [t for t in trades if t.contract_id == MNQ][-1]
            found.append(
                Breach(
                    f"over|position {pos.id}|trade {last.payload['id']}",
                    "over_max_contracts",
                    last.at,
                    f"MNQ {pos.size:+d} over the limit {self.rules.max_mnq}",
                )
            )
        return found
