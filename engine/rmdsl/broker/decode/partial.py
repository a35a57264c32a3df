"""Incremental user-hub updates completed from the last known state of the same entity.

The gateway's realtime updates may leave out fields that did not change (the
SDK itself accepts position updates without id, accountId or
creationTimestamp). A field missing from an update keeps its last known value
(per account, position, order, trade); nothing is ever filled in with a
default such as canTrade true or balance 0. A delete (envelope action 2)
is a removal: the entity is forgotten after its last event is produced
(docs/broker.md "Partial and odd payloads").
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from rmdsl.broker.decode.fields import ACTION_DELETE, PayloadError, envelope
from rmdsl.broker.decode.gateway import event_from_gateway
from rmdsl.contract.events import Event

# entities remembered (least recently updated forgotten first): an entity that changes
# keeps being refreshed, so only idle ones, long finished, fall out
MAX_ENTITIES = 8_192
# finished entities (trades, orders filled, cancelled, expired or rejected) remembered apart,
# the newest only: a late repeat or void of a recent one is still completed, and a daemon of
# many accounts (one decoder for the login's stream) does not keep every order and fill of
# the day, ~1 KB each, beside the live ones (docs/performance.md, "Many accounts in one
# daemon"): 200 busy accounts finish ~10 an second, so this is the last minute or two
MAX_DONE = 1_024
FINAL_ORDER = frozenset({2, 3, 4, 5})  # OrderStatus FILLED, CANCELLED, EXPIRED, REJECTED

Key = tuple[str, int, str]


class GatewayDecoder:
    """Gateway messages -> engine events, completing partial updates; one per account stream.

    `default_account` stands in for an `accountId` an update leaves out (the
    stream is that account's). Quotes pass through unchanged.
    """

    def __init__(
        self, default_account: int = 0, max_entities: int = MAX_ENTITIES, max_done: int = MAX_DONE
    ) -> None:
        self.default_account = default_account
        self._last: OrderedDict[Key, dict[str, Any]] = OrderedDict()
        self._done: OrderedDict[Key, dict[str, Any]] = OrderedDict()  # finished: the newest
        # the current position id of each position key -> the key (an update w/o contract)
        self._position_ids: dict[int, Key] = {}
        self._max, self._max_done = max_entities, max_done

    def __len__(self) -> int:
        return len(self._last) + len(self._done)

    def _prior(self, key: Key) -> dict[str, Any]:
        return self._last.get(key) or self._done.get(key) or {}

    def decode(
        self,
        target: str,
        payload: Any,
        fallback_ts: dt.datetime | None = None,
        received_ns: int | None = None,
    ) -> Event:
        """One realtime message -> an event; PayloadError when even the merge lacks a field."""
        if target == "GatewayQuote":
            return event_from_gateway(target, payload, fallback_ts, received_ns)
        action, data = envelope(payload)
        key = self._key(target, data)
        merged = {**self._prior(key), **data}
        if key[0] == "account" and "id" not in merged:
            merged["id"] = key[1]
        event = event_from_gateway(
            target, {"action": action, "data": merged}, fallback_ts, received_ns
        )
        if action == ACTION_DELETE:
            self._forget(key)
        else:
            self._store(key, merged)
        return event

    def remember(self, target: str, data: Mapping[str, Any]) -> None:
        """Seed with a complete REST object (the snapshot): the last known state from now on."""
        if target != "GatewayQuote":
            _, body = envelope(data)
            key = self._key(target, body)
            self._store(key, {**self._prior(key), **body})

    def _key(self, target: str, data: Mapping[str, Any]) -> Key:
        account = _opt_int(data.get("accountId"))
        account = self.default_account if account is None else account
        ident = _opt_int(data.get("id"))
        if target == "GatewayUserPosition":
            contract = data.get("contractId")
            if isinstance(contract, str) and contract:
                return ("position", account, contract)
            known = self._position_ids.get(ident) if ident is not None else None
            if known is None:
                raise PayloadError("position update without contractId of an unknown position")
            return known
        kind = {
            "GatewayUserTrade": "trade",
            "GatewayUserOrder": "order",
            "GatewayUserAccount": "account",
        }.get(target)
        if kind is None:
            raise PayloadError(f"unknown target {target!r}")
        if kind == "account" and ident is None:
            ident = self.default_account or None
        if ident is None:
            raise PayloadError(f"{target} update without an id")
        return (kind, ident, "")

    def _store(self, key: Key, merged: dict[str, Any]) -> None:
        if _finished(key, merged):
            self._forget(key)
            self._done[key] = merged
            while len(self._done) > self._max_done:
                self._done.popitem(last=False)
            return
        self._done.pop(key, None)
        replaced = self._last.get(key)
        if replaced is not None:  # one id per position key: a new position's replaces the
            self._drop_position_id(key, replaced)  # closed one's (else kept for good)
        self._last[key] = merged
        self._last.move_to_end(key)
        ident = _opt_int(merged.get("id"))
        if key[0] == "position" and ident is not None:
            self._position_ids[ident] = key
        while len(self._last) > self._max:
            old_key, old = self._last.popitem(last=False)
            self._drop_position_id(old_key, old)

    def _forget(self, key: Key) -> None:
        self._done.pop(key, None)
        old = self._last.pop(key, None)
        if old is not None:
            self._drop_position_id(key, old)

    def _drop_position_id(self, key: Key, data: Mapping[str, Any]) -> None:
        ident = _opt_int(data.get("id"))
        if key[0] == "position" and ident is not None and self._position_ids.get(ident) == key:
            del self._position_ids[ident]


def _finished(key: Key, merged: Mapping[str, Any]) -> bool:
    """A trade, or an order in a final status: only a repeat or a void can follow."""
    kind = key[0]
    return kind == "trade" or (kind == "order" and _opt_int(merged.get("status")) in FINAL_ORDER)


def _opt_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return int(value)
    except ValueError:
        return None
