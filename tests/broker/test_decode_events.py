"""Gateway realtime payloads -> engine events (the one mapping every path uses)."""

import datetime as dt
from decimal import Decimal

import pytest

from rmdsl.broker.decode.fields import PayloadError
from rmdsl.broker.decode.gateway import event_from_gateway
from rmdsl.contract.events import (
    OrderStatus,
    OrderType,
    PositionType,
    QuoteEvent,
    Side,
    TradeEvent,
    symbol_of,
)

TRADE = {
    "id": 8604,
    "accountId": 203,
    "contractId": "CON.F.US.MNQ.Z25",
    "creationTimestamp": "2025-11-20T15:31:02.123+00:00",
    "price": 21000.25,
    "profitAndLoss": -120.5,
    "fees": 0.74,
    "side": 1,
    "size": 2,
    "voided": False,
    "orderId": 14328,
}


def test_wrapped_trade_payload_maps_exactly() -> None:
    event = event_from_gateway("GatewayUserTrade", {"action": 1, "data": TRADE})
    assert isinstance(event, TradeEvent)
    assert event.pnl == Decimal("-120.5")
    assert event.price == Decimal("21000.25")
    assert event.side is Side.SELL
    assert event.symbol == "MNQ"
    assert event.ts == dt.datetime(2025, 11, 20, 15, 31, 2, 123000, tzinfo=dt.UTC)


def test_opening_fill_has_no_pnl() -> None:
    event = event_from_gateway("GatewayUserTrade", {**TRADE, "profitAndLoss": None})
    assert isinstance(event, TradeEvent)
    assert event.pnl is None


def test_order_and_position_enums() -> None:
    order = event_from_gateway(
        "GatewayUserOrder",
        {
            "id": 1,
            "accountId": 203,
            "contractId": "CON.F.US.EP.Z25",
            "creationTimestamp": "2025-11-20T15:31:02Z",
            "status": 1,
            "type": 4,
            "side": 0,
            "size": 1,
            "stopPrice": 5990.25,
        },
    )
    assert order.status is OrderStatus.OPEN and order.status.is_working  # type: ignore[union-attr]
    assert order.type is OrderType.STOP and order.type.is_stop  # type: ignore[union-attr]
    pos = event_from_gateway(
        "GatewayUserPosition",
        [{"id": 9, "contractId": "CON.F.US.EP.Z25", "type": 2, "size": 0, "averagePrice": 6000}],
        fallback_ts=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    )
    assert pos.type is PositionType.SHORT  # type: ignore[union-attr]


def test_quote_uses_midpoint_when_last_is_zero() -> None:
    q = event_from_gateway(
        "GatewayQuote",
        ["CON.F.US.MNQ.Z25", {"lastPrice": 0, "bestBid": 100.25, "bestAsk": 100.75}],
        fallback_ts=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    )
    assert isinstance(q, QuoteEvent)
    assert q.price == Decimal("100.5")


@pytest.mark.parametrize(
    ("target", "payload", "needle"),
    [
        ("GatewayUserTrade", {**TRADE, "side": 7}, "not a Side"),
        ("GatewayUserTrade", {**TRADE, "price": "abc"}, "'price'"),
        ("GatewayUserTrade", {**TRADE, "contractId": ""}, "'contractId'"),
        ("GatewayUserTrade", "not an object", "must be an object"),
        ("GatewayBogus", TRADE, "unknown target"),
    ],
)
def test_bad_payloads_raise_payload_error(target: str, payload: object, needle: str) -> None:
    with pytest.raises(PayloadError, match=needle):
        event_from_gateway(target, payload)


def test_symbol_root_from_contract_id() -> None:
    assert symbol_of("CON.F.US.MNQ.Z25") == "MNQ"
    assert symbol_of("es") == "ES"


def test_gateway_root_aliases_map_to_exchange_symbols() -> None:
    """Regression: `symbol == "ES"` never matched the gateway's `CON.F.US.EP.*` ids."""
    assert symbol_of("CON.F.US.EP.Z25") == "ES"
    assert symbol_of("CON.F.US.ENQ.H26") == "NQ"
