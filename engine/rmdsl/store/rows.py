"""Record dataclasses (rmdsl.engine.persistence) <-> table rows, one Table per table.

A Table lists its columns once, each with the record field it holds and the
codecs both ways (rmdsl.store.codec); the column list of the SQL, the
parameters of an INSERT and the record read back all come from that one list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rmdsl.engine.persistence import (
    AccountStateRecord,
    DayResultRecord,
    EnforcementRecord,
    LockoutKind,
    LockoutRecord,
    Outcome,
    PositionRecord,
    RulesetVersionRecord,
    TimerRecord,
    TradeRecord,
    UntilKindRecord,
)
from rmdsl.store.codec import (
    day_in,
    day_out,
    json_in,
    json_out,
    money_in,
    money_out,
    opt_money_in,
    opt_money_out,
    opt_ts_in,
    opt_ts_out,
    ts_in,
    ts_out,
)
from rmdsl.store.db import Row

Codec = Callable[[Any], Any]
_MISSING = object()


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Col:
    """One column: `name` in SQL, `field` of the record (default the same), how to store it
    (`out`), how to read it (`into`), and the stored value an older schema without the
    column reads as (`old`, then read through `into` too)."""

    name: str
    out: Codec = _same
    into: Codec = _same
    field: str = ""
    old: Any = _MISSING

    @property
    def attr(self) -> str:
        return self.field or self.name


class Table[R]:
    """A record type and its columns, in table order."""

    def __init__(self, record: Callable[..., R], *columns: Col) -> None:
        self.make = record
        self.cols = columns
        self.sql_columns = ", ".join(c.name for c in columns)

    def insert(self, table: str, verb: str = "INSERT OR REPLACE") -> str:
        """`verb INTO table (columns) VALUES (?, ...)`."""
        marks = ", ".join("?" * len(self.cols))
        return f"{verb} INTO {table} ({self.sql_columns}) VALUES ({marks})"

    def params(self, rec: R) -> tuple[Any, ...]:
        return tuple(c.out(getattr(rec, c.attr)) for c in self.cols)

    def record(self, r: Row) -> R:
        keys = r.keys()
        return self.make(**{c.attr: c.into(self._raw(r, keys, c)) for c in self.cols})

    @staticmethod
    def _raw(r: Row, keys: list[str], c: Col) -> Any:
        return r[c.name] if c.old is _MISSING or c.name in keys else c.old


def _json_map(text: str | None) -> Any:
    return json_in(text) or {}


ACCOUNTS = Table(
    AccountStateRecord,
    Col("account_id"),
    Col("trading_day", day_out, day_in),
    Col("realized_pnl", money_out, money_in),
    Col("unrealized_pnl", money_out, money_in),
    Col("peak_pnl", money_out, money_in),
    Col("trades"),
    Col("wins"),
    Col("losses"),
    Col("consecutive_losses"),
    Col("last_reset", opt_ts_out, opt_ts_in),
    Col("updated_at", opt_ts_out, opt_ts_in),
    Col("balance", opt_money_out, opt_money_in),
    Col("account_name"),
    Col("params_json", json_out, _json_map, field="params"),
    Col("eod_high", opt_money_out, opt_money_in),
    Col("mll", opt_money_out, opt_money_in),
    Col("net", opt_money_out, opt_money_in),
)
POSITIONS = Table(
    PositionRecord,
    Col("account_id"),
    Col("position_id"),
    Col("symbol"),
    Col("contract_id"),
    Col("side"),
    Col("quantity"),
    Col("entry_price", money_out, money_in),
    Col("opened_at", ts_out, ts_in),
    Col("updated_at", opt_ts_out, opt_ts_in),
)
TRADES = Table(
    TradeRecord,
    Col("account_id"),
    Col("trade_id"),
    Col("contract_id"),
    Col("symbol"),
    Col("ts", ts_out, ts_in),
    Col("trading_day", day_out, day_in),
    Col("side"),
    Col("size"),
    Col("price", money_out, money_in),
    Col("pnl", opt_money_out, opt_money_in),
    Col("fees", money_out, money_in),
    Col("voided", int, bool),
    Col("order_id"),
    Col("by_rmdsl", int, bool),
)
LOCKOUTS = Table(
    LockoutRecord,
    Col("id"),
    Col("account_id"),
    Col("symbol"),
    Col("rule_id"),
    Col("until_ts", opt_ts_out, opt_ts_in),
    Col("until_kind", str, UntilKindRecord),
    Col("created_at", ts_out, ts_in),
    Col("lifted_at", opt_ts_out, opt_ts_in),
    Col("reason"),
    Col("kind", str, LockoutKind),
)
TIMERS = Table(
    TimerRecord,
    Col("account_id"),
    Col("key"),
    Col("rule_id"),
    Col("entity"),
    Col("started_at", ts_out, ts_in),
    Col("deadline", ts_out, ts_in),
)
ENFORCEMENTS = Table(
    EnforcementRecord,
    Col("timestamp", ts_out, ts_in),
    Col("account_id"),
    Col("rule_name"),
    Col("action"),
    Col("reason"),
    Col("values_json", lambda v: json_out(dict(v)), _json_map, field="values"),
    Col("target"),
    Col("event_received_ts", opt_ts_out, opt_ts_in),
    Col("action_sent_ts", opt_ts_out, opt_ts_in),
    Col("latency_ms"),
    Col("outcome", str, Outcome),
    Col("error"),
    Col("severity"),
    # a database still at schema 2 (read-only readers do not migrate) has no shown_json
    Col("shown_json", lambda v: json_out(dict(v)), _json_map, field="shown", old=None),
)
# written by store.batch's VERSION_SQL (with the rejections' columns): only read through here
VERSIONS = Table(
    RulesetVersionRecord,
    Col("digest"),
    Col("name"),
    Col("path"),
    Col("loaded_at", ts_out, ts_in),
    Col("files_json", json_out, lambda t: tuple(json_in(t) or ()), field="files"),
    Col("account_id"),
    Col("timezone", old=""),  # schema 2: not recorded
)
DAYS = Table(
    DayResultRecord,
    Col("account_id"),
    Col("trading_day", day_out, day_in),
    Col("gross_pnl", money_out, money_in),
    Col("fees", money_out, money_in),
    Col("realized_pnl", money_out, money_in),
    Col("trades"),
    Col("eod_balance", opt_money_out, opt_money_in),
    Col("eod_high", opt_money_out, opt_money_in),
)
