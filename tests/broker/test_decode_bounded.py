"""The decoder's memory of entities stays bounded by what is live: finished orders and trades
are kept apart, the newest MAX_DONE only (a daemon of many accounts would otherwise keep
every order and fill of the day, ~1 KB each: docs/performance.md, "Many accounts in one
daemon"), while working orders, positions and the account are kept as before."""

import datetime as dt

from rmdsl.broker.decode.partial import MAX_DONE, GatewayDecoder
from rmdsl.contract.events import OrderEvent, OrderStatus, TradeEvent

T0 = dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC)
ES = "CON.F.US.EP.H26"


def order(ident: int, status: int) -> dict[str, object]:
    return {
        "action": 1,
        "data": {
            "id": ident,
            "accountId": 7001,
            "contractId": ES,
            "creationTimestamp": "2026-01-05T15:00:00+00:00",
            "updateTimestamp": "2026-01-05T15:00:00+00:00",
            "status": status,
            "type": 2,
            "side": 0,
            "size": 1,
        },
    }


def trade(ident: int, action: int = 1) -> dict[str, object]:
    data: dict[str, object] = {"id": ident}
    if action == 1:
        data |= {"accountId": 7001, "contractId": ES, "price": 6001.0, "profitAndLoss": 50.0}
        data |= {"fees": 1.4, "side": 1, "size": 1, "creationTimestamp": "2026-01-05T15:00:00Z"}
    return {"action": action, "data": data}


def trade_day(dec: GatewayDecoder, n: int) -> None:
    """n market orders, each opened, filled, and its trade."""
    for i in range(n):
        dec.decode("GatewayUserOrder", order(1000 + i, 1), T0)
        dec.decode("GatewayUserOrder", order(1000 + i, 2), T0)
        dec.decode("GatewayUserTrade", trade(5000 + i), T0)


def test_a_day_of_fills_keeps_only_the_newest_finished_entities() -> None:
    dec = GatewayDecoder(7001)
    trade_day(dec, 2_000)
    assert len(dec) <= MAX_DONE
    trade_day(dec, 2_000)
    assert len(dec) <= MAX_DONE


def test_a_working_order_is_remembered_whatever_was_finished_since() -> None:
    dec = GatewayDecoder(7001)
    dec.decode("GatewayUserOrder", order(41, 1), T0)
    trade_day(dec, 2_000)
    ev = dec.decode("GatewayUserOrder", {"action": 1, "data": {"id": 41, "status": 3}}, T0)
    assert isinstance(ev, OrderEvent) and ev.contract_id == ES
    assert ev.status is OrderStatus.CANCELLED


def test_a_recent_fill_voided_by_id_alone_is_completed() -> None:
    dec = GatewayDecoder(7001)
    trade_day(dec, 10)
    ev = dec.decode("GatewayUserTrade", trade(5009, action=2), T0)
    assert isinstance(ev, TradeEvent) and ev.voided and ev.contract_id == ES
