"""Python values <-> SQLite columns: money as exact decimal TEXT, instants as sortable UTC TEXT.

Instants are stored as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (fixed width, so text order is time
order and range queries use the index); dates as `YYYY-MM-DD`; Decimal as its exact string.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rmdsl.errors import StoreError

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def ts_out(value: dt.datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        # StoreError, not ValueError: the engine survives a store failure, not an arbitrary bug
        raise StoreError(f"naive datetime {value!r} cannot be stored: instants are tz-aware")
    return value.astimezone(dt.UTC).strftime(_TS_FORMAT)


def opt_ts_out(value: dt.datetime | None) -> str | None:
    return None if value is None else ts_out(value)


def ts_in(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def opt_ts_in(text: str | None) -> dt.datetime | None:
    return None if text is None else ts_in(text)


def day_out(value: dt.date) -> str:
    return value.isoformat()


def day_in(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def money_out(value: Decimal) -> str:
    if not value.is_finite():
        raise StoreError(f"money must be a finite decimal to be stored, got {value}")
    return str(value)


def opt_money_out(value: Decimal | None) -> str | None:
    return None if value is None else money_out(value)


def money_in(text: str) -> Decimal:
    return Decimal(text)


def opt_money_in(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal | dt.date | dt.time | dt.datetime):
        return str(value)
    return repr(value)


def json_out(value: Mapping[str, Any] | tuple[str, ...]) -> str:
    return json.dumps(value, default=_jsonable, sort_keys=isinstance(value, Mapping))


def json_in(text: str | None) -> Any:
    return None if not text else json.loads(text)
