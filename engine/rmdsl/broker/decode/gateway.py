"""The ProjectX payload -> event mapping, once for the adapter, `replay`, `test` and the simulator.

One realtime message (a SignalR target and its payload) becomes one
rmdsl.contract.events event; a payload missing a required field raises
PayloadError (docs/events.md, docs/broker.md "Partial and odd payloads").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from rmdsl.broker.decode.fields import (
    ACTION_DELETE,
    PayloadError,
    dec,
    enum_field,
    envelope,
    int_field,
    opt_bool,
    opt_dec,
    parse_ts,
    str_field,
    unwrap,
)
from rmdsl.contract import events as ev

# SignalR targets of the gateway's hubs that carry account state
USER_TARGETS = ("GatewayUserTrade", "GatewayUserPosition", "GatewayUserOrder", "GatewayUserAccount")
MARKET_TARGETS = ("GatewayQuote",)

Fields = Mapping[str, Any]


def event_from_gateway(
    target: str,
    payload: Any,
    fallback_ts: dt.datetime | None = None,
    received_ns: int | None = None,
) -> ev.Event:
    """Map one realtime message (SignalR target + its payload) to an engine event."""
    rn = ev.now_ns() if received_ns is None else received_ns
    if target == "GatewayQuote":
        return _quote(payload, fallback_ts, rn)
    build = _USER_BUILDERS.get(target)
    if build is None:
        raise PayloadError(f"unknown target {target!r}")
    action, data = envelope(payload)
    return build(data, action == ACTION_DELETE, fallback_ts, rn)


def _trade(data: Fields, deleted: bool, fallback_ts: dt.datetime | None, rn: int) -> ev.TradeEvent:
    return ev.TradeEvent(
        id=int_field(data, "id"),
        account_id=int_field(data, "accountId", 0),
        contract_id=str_field(data, "contractId"),
        ts=parse_ts(data.get("creationTimestamp"), fallback_ts),
        price=dec(data.get("price"), "price"),
        pnl=opt_dec(data.get("profitAndLoss"), "profitAndLoss"),
        fees=opt_dec(data.get("fees"), "fees") or Decimal(0),
        side=enum_field(ev.Side, data, "side"),
        size=int_field(data, "size"),
        voided=bool(data.get("voided", False)) or deleted,  # a deleted trade is voided
        order_id=int_field(data, "orderId", 0),
        received_ns=rn,
    )


def _position(
    data: Fields, deleted: bool, fallback_ts: dt.datetime | None, rn: int
) -> ev.PositionEvent:
    return ev.PositionEvent(
        id=int_field(data, "id", 0),  # incremental updates may leave it out (SDK tracking.py)
        account_id=int_field(data, "accountId", 0),
        contract_id=str_field(data, "contractId"),
        ts=parse_ts(data.get("creationTimestamp"), fallback_ts),
        type=enum_field(ev.PositionType, data, "type", ev.PositionType.UNDEFINED),
        size=0 if deleted else int_field(data, "size"),  # a deleted position is flat
        avg_price=opt_dec(data.get("averagePrice"), "averagePrice") or Decimal(0),
        received_ns=rn,
    )


def _order(data: Fields, deleted: bool, fallback_ts: dt.datetime | None, rn: int) -> ev.OrderEvent:
    return ev.OrderEvent(
        id=int_field(data, "id"),
        account_id=int_field(data, "accountId", 0),
        contract_id=str_field(data, "contractId"),
        ts=parse_ts(data.get("updateTimestamp") or data.get("creationTimestamp"), fallback_ts),
        status=enum_field(ev.OrderStatus, data, "status", ev.OrderStatus.UNKNOWN),
        type=enum_field(ev.OrderType, data, "type", ev.OrderType.UNKNOWN),
        side=enum_field(ev.Side, data, "side"),
        size=int_field(data, "size"),
        limit_price=opt_dec(data.get("limitPrice"), "limitPrice"),
        stop_price=opt_dec(data.get("stopPrice"), "stopPrice"),
        fill_volume=int_field(data, "fillVolume", 0) if data.get("fillVolume") is not None else 0,
        filled_price=opt_dec(data.get("filledPrice"), "filledPrice"),
        custom_tag=data.get("customTag") if isinstance(data.get("customTag"), str) else None,
        received_ns=rn,
        removed=deleted,  # a deleted order is gone
    )


def _account(
    data: Fields, deleted: bool, fallback_ts: dt.datetime | None, rn: int
) -> ev.AccountEvent:
    if deleted:
        raise PayloadError("an account delete (action 2) carries no state: ignored")
    # a field the update leaves out is None, never a default (docs/broker.md)
    name = data.get("name")
    return ev.AccountEvent(
        id=int_field(data, "id"),
        name=None if name is None else str(name),
        balance=opt_dec(data.get("balance"), "balance"),
        can_trade=opt_bool(data.get("canTrade")),
        ts=parse_ts(data.get("timestamp"), fallback_ts or dt.datetime.now(dt.UTC)),
        received_ns=rn,
    )


_USER_BUILDERS: dict[str, Callable[[Fields, bool, dt.datetime | None, int], ev.Event]] = {
    "GatewayUserTrade": _trade,
    "GatewayUserPosition": _position,
    "GatewayUserOrder": _order,
    "GatewayUserAccount": _account,
}


def _quote(payload: Any, fallback_ts: dt.datetime | None, rn: int) -> ev.QuoteEvent:
    contract_id: Any = None
    if isinstance(payload, list | tuple) and len(payload) == 2 and isinstance(payload[0], str):
        contract_id, payload = payload
    data = unwrap(payload)
    contract_id = contract_id or data.get("symbol") or data.get("contractId")
    if not isinstance(contract_id, str) or not contract_id:
        raise PayloadError("quote without a contract id (field 'symbol')")
    bid = opt_dec(data.get("bestBid"), "bestBid")
    ask = opt_dec(data.get("bestAsk"), "bestAsk")
    last = opt_dec(data.get("lastPrice"), "lastPrice")
    if last is None or last == 0:
        if bid is None or ask is None:
            raise PayloadError("quote without lastPrice or bestBid/bestAsk")
        last = (bid + ask) / 2
    ts = parse_ts(data.get("timestamp") or data.get("lastUpdated"), fallback_ts)
    return ev.QuoteEvent(contract_id, ts, last, bid, ask, received_ns=rn)
