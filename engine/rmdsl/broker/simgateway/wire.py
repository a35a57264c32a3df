"""How the simulated gateway shapes user-hub pushes on the wire: odd payloads on demand.

The matching model (market.py) always produces complete `{"action": 1,
"data": {...}}` objects. No source says how often the real gateway sends a
delete, an incremental update that leaves out unchanged fields, or an enum
code past the documented ones; a WireStyle makes the simulator send each, so
rmdsl is tested under all of them (docs/simgateway.md "Partial and odd
payloads"). The default style changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rmdsl.broker.simgateway.market import Push

# the fields every incremental update still carries: what names the entity
_IDENTITY = {
    "GatewayUserAccount": ("id",),
    "GatewayUserPosition": ("accountId", "contractId"),
    "GatewayUserOrder": ("id",),
    "GatewayUserTrade": ("id",),
}
_FINAL_ORDER_STATUSES = (2, 3, 4, 5)  # filled, cancelled, expired, rejected


@dataclass(slots=True)
class WireStyle:
    """Settable odd behaviours of the user hub (each `unknown: settable` in the docs).

    partial: updates after the first of an entity carry only the fields that
        changed (plus what names it), as an incremental update may.
    omit: fields left out of every update of a target, e.g.
        {"GatewayUserAccount": {"canTrade", "balance"}}.
    delete_closed_positions: a position closed to size 0 is sent as action 2.
    delete_finished_orders: an order that is filled, cancelled, expired or
        rejected is sent as action 2.
    order_type_codes / order_status_codes / position_type_codes: a code the
        model produced -> the code sent (e.g. {4: 0} sends stops as type 0
        Unknown, {1: 9} sends working orders with status 9).
    """

    partial: bool = False
    omit: Mapping[str, set[str]] = field(default_factory=dict)
    delete_closed_positions: bool = False
    delete_finished_orders: bool = False
    order_type_codes: Mapping[int, int] = field(default_factory=dict)
    order_status_codes: Mapping[int, int] = field(default_factory=dict)
    position_type_codes: Mapping[int, int] = field(default_factory=dict)


class WireShaper:
    """Applies a WireStyle to each push; remembers what each entity last sent (for `partial`)."""

    def __init__(self, style: WireStyle | None = None) -> None:
        self.style = style or WireStyle()
        self._sent: dict[tuple[str, object], dict[str, Any]] = {}

    def shape(self, push: Push) -> Push:
        identity = _IDENTITY.get(push.target)
        if identity is None or len(push.arguments) != 1:
            return push
        wrapped = push.arguments[0]
        if not isinstance(wrapped, Mapping) or not isinstance(wrapped.get("data"), Mapping):
            return push
        data = dict(wrapped["data"])
        action = int(wrapped.get("action", 1))
        action = self._action(push.target, data, action)
        self._recode(push.target, data)
        sent = self._trim(push.target, identity, data)
        if action == 2:  # removed: whatever comes next under this key is a new entity, complete
            self._sent.pop(self._key(push.target, identity, data), None)
        return replace(push, arguments=({"action": action, "data": sent},))

    def _action(self, target: str, data: Mapping[str, Any], action: int) -> int:
        style = self.style
        if target == "GatewayUserPosition" and style.delete_closed_positions:
            return 2 if data.get("size") == 0 else action
        if target == "GatewayUserOrder" and style.delete_finished_orders:
            return 2 if data.get("status") in _FINAL_ORDER_STATUSES else action
        return action

    def _recode(self, target: str, data: dict[str, Any]) -> None:
        style = self.style
        codes: list[tuple[str, Mapping[int, int]]] = []
        if target == "GatewayUserOrder":
            codes = [("type", style.order_type_codes), ("status", style.order_status_codes)]
        elif target == "GatewayUserPosition":
            codes = [("type", style.position_type_codes)]
        for name, table in codes:
            if data.get(name) in table:
                data[name] = table[data[name]]

    @staticmethod
    def _key(target: str, identity: tuple[str, ...], data: dict[str, Any]) -> tuple[str, object]:
        return (target, tuple(data.get(name) for name in identity))

    def _trim(self, target: str, identity: tuple[str, ...], data: dict[str, Any]) -> dict[str, Any]:
        key = self._key(target, identity, data)
        previous = self._sent.get(key)
        self._sent[key] = dict(data)
        omit = self.style.omit.get(target, set())
        out = {k: v for k, v in data.items() if k not in omit or k in identity}
        if self.style.partial and previous is not None:
            out = {k: v for k, v in out.items() if k in identity or previous.get(k, _NO) != v}
        return out


_NO = object()
