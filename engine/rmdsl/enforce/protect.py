"""Protective orders for the enforcer: a stop placed or tightened (never loosened), a target.

Split from rmdsl.enforce.enforcer, which owns the broker calls: these decide
which order to place or move, and hand the call to `Enforcer.call`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from rmdsl.contract.broker import OrderChange, OrderRequest
from rmdsl.contract.events import OrderType
from rmdsl.engine.entities import Order, Position
from rmdsl.engine.evaluate import Firing
from rmdsl.engine.persistence import EnforcementRecord
from rmdsl.engine.state import AccountState
from rmdsl.engine.tags import new_tag

if TYPE_CHECKING:
    from rmdsl.enforce.enforcer import Enforcer


async def place_stop(
    enf: Enforcer, firing: Firing, pos: Position, action: str, stop: Decimal
) -> EnforcementRecord:
    """Place a stop at `stop`, or move the existing one there if that tightens it."""
    existing = _stops(enf.state, pos)
    if existing:
        best = max(existing, key=lambda o: _tightness(pos, o))
        price = best.event.stop_price
        if price is not None and _tighter_or_equal(pos, price, stop):
            return await enf.call(
                firing, action, pos.contract_id, None, f"existing stop {price} is not looser"
            )
        oid = best.id
        return await enf.call(
            firing,
            action,
            pos.contract_id,
            lambda: enf.broker.modify_order(oid, OrderChange(stop_price=stop)),
        )
    return await _place(enf, firing, pos, action, OrderType.STOP, stop)


async def place_target(
    enf: Enforcer, firing: Firing, pos: Position, action: str, price: Decimal
) -> EnforcementRecord:
    for o in enf.state.orders.values():
        ev = o.event
        if (
            ev.contract_id == pos.contract_id
            and ev.type is OrderType.LIMIT
            and (ev.side is pos.closing_side)
        ):
            return await enf.call(firing, action, pos.contract_id, None, "a target exists")
    return await _place(enf, firing, pos, action, OrderType.LIMIT, price)


async def _place(
    enf: Enforcer, firing: Firing, pos: Position, action: str, kind: OrderType, price: Decimal
) -> EnforcementRecord:
    """A stop or a limit (a target) for the whole position, on its closing side."""
    stop = kind is OrderType.STOP
    req = OrderRequest(
        pos.contract_id,
        kind,
        pos.closing_side,
        pos.size,
        limit_price=None if stop else price,
        stop_price=price if stop else None,
        # unique: the gateway wants it so; known as rmdsl's by it, after a restart too
        custom_tag=new_tag("stop" if stop else "target", enf.state.account_id),
    )
    return await enf.call(firing, action, pos.contract_id, lambda: enf.broker.place_order(req))


def _stops(state: AccountState, pos: Position) -> list[Order]:
    return [
        o
        for o in state.orders.values()
        if o.contract_id == pos.contract_id
        and o.event.side is pos.closing_side
        and o.event.type.is_stop
    ]


def _tightness(pos: Position, order: Order) -> Decimal:
    price = order.event.stop_price
    if price is None:
        return Decimal("-Infinity")
    return price if pos.long else -price


def _tighter_or_equal(pos: Position, existing: Decimal, wanted: Decimal) -> bool:
    """A long's stop is tighter when higher, a short's when lower."""
    return existing >= wanted if pos.long else existing <= wanted
