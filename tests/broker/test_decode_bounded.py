"""The decoder's memory of entities stays bounded by what is live: finished orders and trades
are kept apart, the newest MAX_DONE only (a daemon of many accounts would otherwise keep
every order and fill of the day, ~1 KB each: docs/performance.md, "Many accounts in one
daemon"), while working orders, positions and the account are kept as before."""

import datetime as dt

import pytest

from rmdsl.broker.decode.fields import PayloadError
from rmdsl.broker.decode.partial import MAX_DONE, GatewayDecoder
from rmdsl.contract.events import OrderEvent, OrderStatus, PositionEvent, TradeEvent

T0 = dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC)
ES = "CON.F.US.EP.H26"


def update(ident: int, **fields: object) -> dict[str, object]:
    """An update (action 1) of entity `ident` of account 7001 on ES, created at 15:00."""
    data = {"id": ident, "accountId": 7001, "contractId": ES}
    return {"action": 1, "data": data | {"creationTimestamp": "2026-01-05T15:00:00+00:00"} | fields}


def order(ident: int, status: int) -> dict[str, object]:
    stamp = "2026-01-05T15:00:00+00:00"
    return update(ident, updateTimestamp=stamp, status=status, type=2, side=0, size=1)


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


def position(ident: int, size: int) -> dict[str, object]:
    return update(ident, type=1 if size else 0, size=size, averagePrice=6000.0)


def test_positions_opened_and_closed_all_day_keep_one_id_per_contract() -> None:
    """Each position the gateway opens has a new id, on the same key (account, contract):
    the ids of positions since closed were kept for the life of the process (~250 bytes
    each: the fleet benchmark's measured account alone opens one every 2 s)."""
    dec = GatewayDecoder(7001)
    for i in range(2_000):
        dec.decode("GatewayUserPosition", position(100 + i, 2), T0)
        dec.decode("GatewayUserPosition", position(100 + i, 0), T0)
    assert len(dec._position_ids) == 1


def test_an_update_without_its_contract_completes_the_current_position() -> None:
    dec = GatewayDecoder(7001)
    dec.decode("GatewayUserPosition", position(10, 0), T0)
    dec.decode("GatewayUserPosition", position(11, 3), T0)  # the contract's next position
    ev = dec.decode("GatewayUserPosition", {"action": 1, "data": {"id": 11, "size": 1}}, T0)
    assert isinstance(ev, PositionEvent) and ev.contract_id == ES and ev.size == 1
    with pytest.raises(PayloadError, match="unknown position"):  # the closed one's id
        dec.decode("GatewayUserPosition", {"action": 1, "data": {"id": 10, "size": 1}}, T0)
