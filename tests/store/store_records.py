"""Record factories for the store tests: one realistic value of each persisted record."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from rmdsl.engine.persistence import (
    AccountStateRecord,
    EnforcementRecord,
    LockoutKind,
    LockoutRecord,
    Outcome,
    PositionRecord,
    TimerRecord,
    TradeRecord,
    UntilKindRecord,
)

T0 = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 24)
ACCOUNT = 7


def trade(trade_id: int, pnl: str | None = "-50.25", **kw: object) -> TradeRecord:
    fields: dict[str, object] = {
        "trade_id": trade_id,
        "account_id": ACCOUNT,
        "contract_id": "CON.F.US.MNQ.Z26",
        "symbol": "MNQ",
        "ts": T0 + dt.timedelta(seconds=trade_id),
        "trading_day": DAY,
        "side": "sell",
        "size": 1,
        "price": Decimal("21000.25"),
        "pnl": None if pnl is None else Decimal(pnl),
        "fees": Decimal("0.74"),
    }
    fields.update(kw)
    return TradeRecord(**fields)  # type: ignore[arg-type]


def account(realized: str = "-150.75", **kw: object) -> AccountStateRecord:
    fields: dict[str, object] = {
        "account_id": ACCOUNT,
        "trading_day": DAY,
        "realized_pnl": Decimal(realized),
        "unrealized_pnl": Decimal("12.50"),
        "peak_pnl": Decimal("40"),
        "trades": 3,
        "wins": 1,
        "losses": 2,
        "consecutive_losses": 2,
        "last_reset": dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC),
        "updated_at": T0,
        "balance": Decimal("50000.10"),
        "account_name": "PRAC-1",
    }
    fields.update(kw)
    return AccountStateRecord(**fields)  # type: ignore[arg-type]


def position(pid: int = 1, qty: int = 2) -> PositionRecord:
    return PositionRecord(
        position_id=pid,
        account_id=ACCOUNT,
        symbol="MNQ",
        contract_id="CON.F.US.MNQ.Z26",
        side="long",
        quantity=qty,
        entry_price=Decimal("21000.25"),
        opened_at=T0,
        updated_at=T0,
    )


def lockout(lid: str = "lk-1", symbol: str | None = None) -> LockoutRecord:
    return LockoutRecord(
        id=lid,
        account_id=ACCOUNT,
        symbol=symbol,
        rule_id="daily_realized_loss",
        until_ts=dt.datetime(2026, 11, 24, 23, 0, tzinfo=dt.UTC),
        until_kind=UntilKindRecord.RESET,
        created_at=T0,
        reason="daily loss -1000 hit limit -1000",
        kind=LockoutKind.LOCKOUT if symbol is None else LockoutKind.SYMBOL_BLOCK,
    )


def timer(key: str = "no_stop_loss_grace|CON.F.US.MNQ.Z26") -> TimerRecord:
    rule, entity = key.split("|")
    return TimerRecord(
        key=key,
        account_id=ACCOUNT,
        rule_id=rule,
        entity=entity,
        started_at=T0,
        deadline=T0 + dt.timedelta(minutes=2),
    )


def enforcement(i: int, latency: float = 12.5, **kw: object) -> EnforcementRecord:
    fields: dict[str, object] = {
        "timestamp": T0 + dt.timedelta(seconds=i),
        "account_id": ACCOUNT,
        "rule_name": "max_loss_per_trade",
        "action": "close_position",
        "reason": f"loss #{i}",
        "values": {"position.unrealized_pnl": "-400.00"},
        "shown": {"position.unrealized_pnl": "-$400.00"},
        "target": "CON.F.US.MNQ.Z26",
        "event_received_ts": T0,
        "action_sent_ts": T0 + dt.timedelta(milliseconds=latency),
        "latency_ms": latency,
        "outcome": Outcome.OK,
    }
    fields.update(kw)
    return EnforcementRecord(**fields)  # type: ignore[arg-type]
