"""WireStyle: the simulated gateway sends deletes, partial updates and unknown codes on demand.

Each odd push is compared with its conformance fixture (tests/fixtures/gateway).
"""

from __future__ import annotations

from decimal import Decimal

from tests.fixtures.gateway.loader import load, shape_diff

from rmdsl.broker.simgateway import Market, OrderRequest, Push
from rmdsl.broker.simgateway.wire import WireShaper, WireStyle


def _run(style: WireStyle) -> list[Push]:
    shaper, sent = WireShaper(style), []
    market = Market(lambda p: sent.append(shaper.shape(p)))
    acc = market.add_account("PRAC-1", Decimal(50_000))
    market.set_can_trade(acc.id, True)
    market.set_quote("ES", Decimal("6000"))
    es = market.resolve_contract("ES").contract_id
    market.place_order(OrderRequest(acc.id, es, 2, 0, 1))
    market.place_order(OrderRequest(acc.id, es, 4, 1, 1, stop_price=Decimal("5990")))
    market.close_position(acc.id, es)
    return sent


def _data(pushes: list[Push], target: str) -> list[dict[str, object]]:
    return [p.arguments[0] for p in pushes if p.target == target]


def test_default_style_sends_complete_updates() -> None:
    sent = _run(WireStyle())
    assert all(a["action"] in (0, 1) for t in ("GatewayUserOrder",) for a in _data(sent, t))
    account = load("hub_user_account.json")["arguments"][0]
    for wrapped in _data(sent, "GatewayUserAccount"):
        assert shape_diff(account, wrapped) == []


def test_partial_updates_carry_only_what_changed() -> None:
    sent = _run(WireStyle(partial=True))
    accounts = [a["data"] for a in _data(sent, "GatewayUserAccount")]
    assert "canTrade" in accounts[0]  # the first update of an entity is complete
    fee_tick = accounts[-1]
    assert set(fee_tick) == {"id", "balance"}
    partial = load("hub_user_account_partial.json")["arguments"][0]
    assert shape_diff(partial, _data(sent, "GatewayUserAccount")[-1]) == []
    positions = [a["data"] for a in _data(sent, "GatewayUserPosition")]
    assert "type" in positions[0] and "type" not in positions[-1]


def test_omitted_fields_are_never_sent() -> None:
    sent = _run(WireStyle(omit={"GatewayUserAccount": {"canTrade", "balance"}}))
    for wrapped in _data(sent, "GatewayUserAccount"):
        data = wrapped["data"]
        assert isinstance(data, dict) and "canTrade" not in data and "balance" not in data


def test_deletes_for_closed_positions_and_finished_orders() -> None:
    sent = _run(WireStyle(delete_closed_positions=True, delete_finished_orders=True))
    positions = _data(sent, "GatewayUserPosition")
    assert positions[-1]["action"] == 2
    fixture = load("hub_user_position_delete.json")["arguments"][0]
    assert shape_diff(fixture, positions[-1]) == []
    orders = _data(sent, "GatewayUserOrder")
    finished = [o for o in orders if o["data"]["status"] == 2]  # type: ignore[index]
    assert finished and all(o["action"] == 2 for o in finished)
    working = [o for o in orders if o["data"]["status"] == 1]  # type: ignore[index]
    assert working and all(o["action"] == 1 for o in working)


def test_codes_past_the_documented_ones() -> None:
    sent = _run(WireStyle(order_type_codes={4: 0}, order_status_codes={1: 9}))
    stops = [o["data"] for o in _data(sent, "GatewayUserOrder") if o["data"]["type"] == 0]  # type: ignore[index]
    assert stops and all(s["status"] == 9 for s in stops)  # type: ignore[index]
    fixture = load("hub_user_order_unknown_codes.json")["arguments"][0]
    assert shape_diff(fixture, {"action": 1, "data": stops[0]}) == []


def test_after_a_delete_the_next_position_is_sent_complete() -> None:
    style = WireStyle(partial=True, delete_closed_positions=True)
    sent = _run(style)  # ends flat: the close went as a delete
    shaper, again = WireShaper(style), []
    market = Market(lambda p: again.append(shaper.shape(p)))
    acc = market.add_account("PRAC-1", Decimal(50_000))
    es = market.resolve_contract("ES").contract_id
    for _ in range(2):  # open, close (a delete), open again
        market.place_order(OrderRequest(acc.id, es, 2, 0, 1))
        market.close_position(acc.id, es)
    market.place_order(OrderRequest(acc.id, es, 2, 0, 1))
    positions = _data(again, "GatewayUserPosition")
    assert [p["action"] for p in positions] == [1, 2, 1, 2, 1]
    assert all({"type", "size", "averagePrice"} <= set(p["data"]) for p in positions[::2])  # type: ignore[arg-type]
    assert _data(sent, "GatewayUserPosition")[-1]["action"] == 2
