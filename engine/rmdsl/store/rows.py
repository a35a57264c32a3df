"""Record dataclasses (rmdsl.engine.persistence) <-> table rows, one pair of functions per table."""

from __future__ import annotations

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

ACCOUNT_COLUMNS = (
    "account_id, trading_day, realized_pnl, unrealized_pnl, peak_pnl, trades, wins, losses, "
    "consecutive_losses, last_reset, updated_at, balance, account_name, params_json, "
    "eod_high, mll, net"
)


def account_params(s: AccountStateRecord) -> tuple[Any, ...]:
    return (
        s.account_id,
        day_out(s.trading_day),
        money_out(s.realized_pnl),
        money_out(s.unrealized_pnl),
        money_out(s.peak_pnl),
        s.trades,
        s.wins,
        s.losses,
        s.consecutive_losses,
        opt_ts_out(s.last_reset),
        opt_ts_out(s.updated_at),
        opt_money_out(s.balance),
        s.account_name,
        json_out(s.params),
        opt_money_out(s.eod_high),
        opt_money_out(s.mll),
        opt_money_out(s.net),
    )


def account_record(r: Row) -> AccountStateRecord:
    return AccountStateRecord(
        account_id=r["account_id"],
        trading_day=day_in(r["trading_day"]),
        realized_pnl=money_in(r["realized_pnl"]),
        unrealized_pnl=money_in(r["unrealized_pnl"]),
        peak_pnl=money_in(r["peak_pnl"]),
        trades=r["trades"],
        wins=r["wins"],
        losses=r["losses"],
        consecutive_losses=r["consecutive_losses"],
        last_reset=opt_ts_in(r["last_reset"]),
        updated_at=opt_ts_in(r["updated_at"]),
        balance=opt_money_in(r["balance"]),
        account_name=r["account_name"],
        params=json_in(r["params_json"]) or {},
        eod_high=opt_money_in(r["eod_high"]),
        mll=opt_money_in(r["mll"]),
        net=opt_money_in(r["net"]),
    )


POSITION_COLUMNS = (
    "account_id, position_id, symbol, contract_id, side, quantity, entry_price, opened_at, "
    "updated_at"
)


def position_params(p: PositionRecord) -> tuple[Any, ...]:
    return (
        p.account_id,
        p.position_id,
        p.symbol,
        p.contract_id,
        p.side,
        p.quantity,
        money_out(p.entry_price),
        ts_out(p.opened_at),
        opt_ts_out(p.updated_at),
    )


def position_record(r: Row) -> PositionRecord:
    return PositionRecord(
        position_id=r["position_id"],
        account_id=r["account_id"],
        symbol=r["symbol"],
        contract_id=r["contract_id"],
        side=r["side"],
        quantity=r["quantity"],
        entry_price=money_in(r["entry_price"]),
        opened_at=ts_in(r["opened_at"]),
        updated_at=opt_ts_in(r["updated_at"]),
    )


TRADE_COLUMNS = (
    "account_id, trade_id, contract_id, symbol, ts, trading_day, side, size, price, pnl, fees, "
    "voided, order_id, by_rmdsl"
)


def trade_params(t: TradeRecord) -> tuple[Any, ...]:
    return (
        t.account_id,
        t.trade_id,
        t.contract_id,
        t.symbol,
        ts_out(t.ts),
        day_out(t.trading_day),
        t.side,
        t.size,
        money_out(t.price),
        opt_money_out(t.pnl),
        money_out(t.fees),
        int(t.voided),
        t.order_id,
        int(t.by_rmdsl),
    )


def trade_record(r: Row) -> TradeRecord:
    return TradeRecord(
        trade_id=r["trade_id"],
        account_id=r["account_id"],
        contract_id=r["contract_id"],
        symbol=r["symbol"],
        ts=ts_in(r["ts"]),
        trading_day=day_in(r["trading_day"]),
        side=r["side"],
        size=r["size"],
        price=money_in(r["price"]),
        pnl=opt_money_in(r["pnl"]),
        fees=money_in(r["fees"]),
        voided=bool(r["voided"]),
        order_id=r["order_id"],
        by_rmdsl=bool(r["by_rmdsl"]),
    )


LOCKOUT_COLUMNS = (
    "id, account_id, symbol, rule_id, until_ts, until_kind, created_at, lifted_at, reason, kind"
)


def lockout_params(lk: LockoutRecord) -> tuple[Any, ...]:
    return (
        lk.id,
        lk.account_id,
        lk.symbol,
        lk.rule_id,
        opt_ts_out(lk.until_ts),
        str(lk.until_kind),
        ts_out(lk.created_at),
        opt_ts_out(lk.lifted_at),
        lk.reason,
        str(lk.kind),
    )


def lockout_record(r: Row) -> LockoutRecord:
    return LockoutRecord(
        id=r["id"],
        account_id=r["account_id"],
        symbol=r["symbol"],
        rule_id=r["rule_id"],
        until_ts=opt_ts_in(r["until_ts"]),
        until_kind=UntilKindRecord(r["until_kind"]),
        created_at=ts_in(r["created_at"]),
        lifted_at=opt_ts_in(r["lifted_at"]),
        reason=r["reason"],
        kind=LockoutKind(r["kind"]),
    )


TIMER_COLUMNS = "account_id, key, rule_id, entity, started_at, deadline"


def timer_params(t: TimerRecord) -> tuple[Any, ...]:
    return (t.account_id, t.key, t.rule_id, t.entity, ts_out(t.started_at), ts_out(t.deadline))


def timer_record(r: Row) -> TimerRecord:
    return TimerRecord(
        key=r["key"],
        account_id=r["account_id"],
        rule_id=r["rule_id"],
        entity=r["entity"],
        started_at=ts_in(r["started_at"]),
        deadline=ts_in(r["deadline"]),
    )


ENFORCEMENT_COLUMNS = (
    "timestamp, account_id, rule_name, action, reason, values_json, target, event_received_ts, "
    "action_sent_ts, latency_ms, outcome, error, severity, shown_json"
)


def enforcement_params(e: EnforcementRecord) -> tuple[Any, ...]:
    return (
        ts_out(e.timestamp),
        e.account_id,
        e.rule_name,
        e.action,
        e.reason,
        json_out(dict(e.values)),
        e.target,
        opt_ts_out(e.event_received_ts),
        opt_ts_out(e.action_sent_ts),
        e.latency_ms,
        str(e.outcome),
        e.error,
        e.severity,
        json_out(dict(e.shown)),
    )


def enforcement_record(r: Row) -> EnforcementRecord:
    return EnforcementRecord(
        timestamp=ts_in(r["timestamp"]),
        account_id=r["account_id"],
        rule_name=r["rule_name"],
        action=r["action"],
        reason=r["reason"],
        values=json_in(r["values_json"]) or {},
        target=r["target"],
        event_received_ts=opt_ts_in(r["event_received_ts"]),
        action_sent_ts=opt_ts_in(r["action_sent_ts"]),
        latency_ms=r["latency_ms"],
        outcome=Outcome(r["outcome"]),
        error=r["error"],
        severity=r["severity"],
        # a database still at schema 2 (read-only readers do not migrate) has no shown_json
        shown=(json_in(r["shown_json"]) if "shown_json" in r.keys() else None) or {},
    )


def version_record(r: Row) -> RulesetVersionRecord:
    return RulesetVersionRecord(
        digest=r["digest"],
        name=r["name"],
        path=r["path"],
        loaded_at=ts_in(r["loaded_at"]),
        files=tuple(json_in(r["files_json"]) or ()),
        account_id=r["account_id"],
        timezone=r["timezone"] if "timezone" in r.keys() else "",  # schema 2: not recorded
    )


DAY_COLUMNS = (
    "account_id, trading_day, gross_pnl, fees, realized_pnl, trades, eod_balance, eod_high"
)


def day_params(d: DayResultRecord) -> tuple[Any, ...]:
    return (
        d.account_id,
        day_out(d.trading_day),
        money_out(d.gross_pnl),
        money_out(d.fees),
        money_out(d.realized_pnl),
        d.trades,
        opt_money_out(d.eod_balance),
        opt_money_out(d.eod_high),
    )


def day_record(r: Row) -> DayResultRecord:
    return DayResultRecord(
        account_id=r["account_id"],
        trading_day=day_in(r["trading_day"]),
        gross_pnl=money_in(r["gross_pnl"]),
        fees=money_in(r["fees"]),
        realized_pnl=money_in(r["realized_pnl"]),
        trades=r["trades"],
        eod_balance=opt_money_in(r["eod_balance"]),
        eod_high=opt_money_in(r["eod_high"]),
    )
