"""Reading gateway payload fields: the envelope, numbers, timestamps, enum codes.

Shared by the payload -> event mapping (rmdsl.broker.decode.gateway) and the memory
that completes partial updates (rmdsl.broker.decode.partial). Nothing here guesses a
missing value: a required field that is absent raises PayloadError.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

log = logging.getLogger("rmdsl.broker.decode")
_warned: set[tuple[str, int]] = set()


class PayloadError(ValueError):
    """A gateway payload is missing a field or has one of the wrong kind."""


def parse_ts(value: Any, default: dt.datetime | None = None) -> dt.datetime:
    """ISO-8601 (the gateway's `2025-01-21T14:30:00.123+00:00` or `...Z`) -> aware UTC datetime."""
    if isinstance(value, dt.datetime):
        ts = value
    elif isinstance(value, str) and value:
        try:
            ts = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise PayloadError(f"bad timestamp {value!r}") from exc
    elif default is not None:
        return default
    else:
        raise PayloadError("missing timestamp")
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def dec(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise PayloadError(f"field {name!r} must be a number, got {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise PayloadError(f"field {name!r} must be a number, got {value!r}") from exc


def opt_dec(value: Any, name: str) -> Decimal | None:
    return None if value is None else dec(value, name)


def int_field(data: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PayloadError(f"field {name!r} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError as exc:
        raise PayloadError(f"field {name!r} must be an integer, got {value!r}") from exc


def str_field(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"field {name!r} must be a non-empty string, got {value!r}")
    return value


# the `action` of the user hub's `{"action": n, "data": {...}}` envelope
ACTION_CREATE, ACTION_UPDATE, ACTION_DELETE = 0, 1, 2


def envelope(payload: Any) -> tuple[int, Mapping[str, Any]]:
    """(action, data) of `{"action": n, "data": {...}}`; a bare dict is an update.

    A delete (2) is a removal: of a position, flat; of an order, gone; of a
    trade, voided (docs/broker.md "Partial and odd payloads"). An action we do
    not know is read as an update: the data is still the entity's state.
    """
    if isinstance(payload, list | tuple) and len(payload) == 1:
        payload = payload[0]
    action = ACTION_UPDATE
    if isinstance(payload, Mapping) and "data" in payload and "action" in payload:
        code = payload["action"]
        action = code if code in (ACTION_CREATE, ACTION_DELETE) else ACTION_UPDATE
        payload = payload["data"]
    if not isinstance(payload, Mapping):
        raise PayloadError(f"payload must be an object, got {type(payload).__name__}")
    return action, payload


def unwrap(payload: Any) -> Mapping[str, Any]:
    """The user hub sends `{"action": n, "data": {...}}` (or the bare dict): return the dict."""
    return envelope(payload)[1]


def enum_field[E: enum.IntEnum](
    cls: type[E], data: Mapping[str, Any], name: str, unknown: E | None = None
) -> E:
    """The member for the code; a code past the known ones is `unknown` when the enum has one."""
    if unknown is not None and data.get(name) is None:
        return unknown
    code = int_field(data, name)
    try:
        return cls(code)
    except ValueError as exc:
        if unknown is not None:
            if (cls.__name__, code) not in _warned:  # once per code: it may come on every update
                _warned.add((cls.__name__, code))
                log.warning(
                    "gateway sent %s %d, which is not documented: kept as unknown",
                    cls.__name__,
                    code,
                )
            return unknown
        raise PayloadError(f"field {name!r}: {code} is not a {cls.__name__}") from exc


def opt_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)
