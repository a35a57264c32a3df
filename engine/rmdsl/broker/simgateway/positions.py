"""Positions, trades and balances of the simulated gateway: a fill in, the Trade and Position out.

Positions are net per (account, contract) with a weighted average price;
realized P&L = (exit - average) * closed size * tick value / tick size.
As on the real gateway (the official Trade/search example: ES one point, one
contract, profitAndLoss 50.00 and fees 1.40 on each half-turn), a Trade's
`profitAndLoss` is GROSS, null on opening fills, and `fees` are charged on
every fill, opening ones included; the balance moves by gross - fees.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rmdsl.broker.simgateway.contracts import ContractSpec, iso, money
from rmdsl.contract.events import PositionType, Side

if TYPE_CHECKING:
    from rmdsl.broker.simgateway.orders import SimOrder


@dataclass(slots=True)
class SimAccount:
    id: int
    name: str
    balance: Decimal
    can_trade: bool = True
    is_visible: bool = True
    simulated: bool = True


@dataclass(slots=True)
class SimPosition:
    id: int
    account_id: int
    contract_id: str
    created: dt.datetime
    size: int  # signed: > 0 long, < 0 short
    average_price: Decimal
    last_type: PositionType = PositionType.UNDEFINED
    exit_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class TradeRecord:
    at: dt.datetime
    account_id: int
    contract_id: str
    payload: dict[str, Any]


class Ledger:
    """Net positions and the trade tape of every account."""

    def __init__(self) -> None:
        self.positions: dict[tuple[int, str], SimPosition] = {}
        self.trades: list[TradeRecord] = []
        self._position_ids = itertools.count(501)
        self._trade_ids = itertools.count(9_000_001)

    def net_size(self, account_id: int, contract_id: str) -> int:
        pos = self.positions.get((account_id, contract_id))
        return pos.size if pos is not None else 0

    def open_positions(self, account_id: int) -> list[SimPosition]:
        return [p for (acc, _), p in self.positions.items() if acc == account_id and p.size != 0]

    def fill(
        self,
        acc: SimAccount,
        spec: ContractSpec,
        order: SimOrder,
        price: Decimal,
        now: dt.datetime,
        size: int | None = None,
    ) -> tuple[dict[str, Any], SimPosition]:
        """Book one fill of `size` (the whole order by default): update the position and the
        balance; return the Trade payload."""
        size = order.size if size is None else size
        signed = size if order.side is Side.BUY else -size
        pos = self._position(acc.id, spec.contract_id, now)
        closed = _closing_size(pos.size, signed)
        gross = Decimal(0)
        if closed:
            direction = 1 if pos.size > 0 else -1
            gross = (price - pos.average_price) * closed * direction * spec.point_value
        fees = spec.fee * size
        _apply(pos, signed, closed, price)
        acc.balance += gross - fees
        trade = {
            "id": next(self._trade_ids),
            "accountId": acc.id,
            "contractId": spec.contract_id,
            "creationTimestamp": iso(now),
            "price": float(price),
            "profitAndLoss": money(gross) if closed else None,
            "fees": money(fees),
            "side": int(order.side),
            "size": size,
            "voided": False,
            "orderId": order.id,
        }
        self.trades.append(TradeRecord(now, acc.id, spec.contract_id, trade))
        return trade, pos

    def trades_between(
        self,
        account_id: int,
        start: dt.datetime | None,
        end: dt.datetime | None,
        contract_id: str | None,
    ) -> list[dict[str, Any]]:
        return [
            t.payload
            for t in self.trades
            if t.account_id == account_id
            and (start is None or t.at >= start)
            and (end is None or t.at <= end)
            and (contract_id is None or t.contract_id == contract_id)
        ]

    def _position(self, account_id: int, contract_id: str, now: dt.datetime) -> SimPosition:
        key = (account_id, contract_id)
        pos = self.positions.get(key)
        if pos is None or pos.size == 0:
            pos = SimPosition(next(self._position_ids), account_id, contract_id, now, 0, Decimal(0))
            self.positions[key] = pos
        return pos


def _closing_size(current: int, signed: int) -> int:
    """How many contracts of the fill reduce the existing position."""
    if current == 0 or (current > 0) == (signed > 0):
        return 0
    return min(abs(current), abs(signed))


def _apply(pos: SimPosition, signed: int, closed: int, price: Decimal) -> None:
    opened = abs(signed) - closed
    new_size = pos.size + signed
    if closed and new_size == 0:
        pos.exit_price = price
    elif opened and closed:
        pos.average_price = price  # flipped: the remainder opens at the fill price
    elif opened:
        total = abs(pos.size) + opened
        pos.average_price = (pos.average_price * abs(pos.size) + price * opened) / total
    pos.size = new_size
    if new_size != 0:
        pos.last_type = PositionType.LONG if new_size > 0 else PositionType.SHORT
        pos.exit_price = None


def position_payload(pos: SimPosition) -> dict[str, Any]:
    """The Position object of /Position/searchOpen and GatewayUserPosition (size 0 = closed)."""
    price = pos.exit_price if pos.size == 0 and pos.exit_price is not None else pos.average_price
    return {
        "id": pos.id,
        "accountId": pos.account_id,
        "contractId": pos.contract_id,
        "creationTimestamp": iso(pos.created),
        "type": int(pos.last_type),
        "size": abs(pos.size),
        "averagePrice": float(price),
    }


def account_payload(acc: SimAccount) -> dict[str, Any]:
    return {
        "id": acc.id,
        "name": acc.name,
        "balance": money(acc.balance),
        "canTrade": acc.can_trade,
        "isVisible": acc.is_visible,
        "simulated": acc.simulated,
    }
