"""Partial and odd gateway payloads: envelope actions, missing fields, unknown enum codes.

docs/broker.md "Partial and odd payloads": a delete is a removal, a missing
field keeps its last known value (never canTrade true or balance 0), and an
unknown code is kept as unknown instead of dropping the event.
"""

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmdsl.broker.decode.fields import PayloadError
from rmdsl.broker.decode.gateway import event_from_gateway
from rmdsl.broker.decode.partial import GatewayDecoder
from rmdsl.contract.events import (
    AccountEvent,
    OrderEvent,
    OrderStatus,
    OrderType,
    PositionEvent,
    PositionType,
    TradeEvent,
)
from rmdsl.engine.state import AccountState
from rmdsl.recording import iter_recording

T0 = dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC)
ES = "CON.F.US.EP.H26"
ACCOUNT = {"id": 7001, "name": "PRAC-1", "balance": 50000.0, "canTrade": False}
ORDER = {
    "id": 41,
    "accountId": 7001,
    "contractId": ES,
    "creationTimestamp": "2026-01-05T15:00:00+00:00",
    "updateTimestamp": "2026-01-05T15:00:00+00:00",
    "status": 1,
    "type": 4,
    "side": 1,
    "size": 1,
    "stopPrice": 5990.0,
}
POSITION = {
    "id": 9,
    "accountId": 7001,
    "contractId": ES,
    "creationTimestamp": "2026-01-05T15:00:00+00:00",
    "type": 1,
    "size": 2,
    "averagePrice": 6000.25,
}


def env(data: dict[str, object], action: int = 1) -> dict[str, object]:
    return {"action": action, "data": data}


# ---- envelope actions ------------------------------------------------------------------------


def test_position_delete_is_flat_not_an_open_position() -> None:
    ev = event_from_gateway("GatewayUserPosition", env(POSITION, 2), T0)
    assert isinstance(ev, PositionEvent) and ev.size == 0


def test_order_delete_is_gone_from_the_working_orders() -> None:
    st = AccountState(7001)
    st.apply_order(_order(ORDER))  # type: ignore[arg-type]
    assert 41 in st.orders
    ev = event_from_gateway("GatewayUserOrder", env(ORDER, 2), T0)
    assert isinstance(ev, OrderEvent) and ev.removed and not ev.working
    st.apply_order(ev)
    assert 41 not in st.orders


def test_trade_delete_voids_the_fill() -> None:
    trade = {
        "id": 5,
        "accountId": 7001,
        "contractId": ES,
        "price": 6001.0,
        "profitAndLoss": 50.0,
        "fees": 1.4,
        "side": 1,
        "size": 1,
    }
    ev = event_from_gateway("GatewayUserTrade", env(trade, 2), T0)
    assert isinstance(ev, TradeEvent) and ev.voided


def test_a_partial_delete_is_completed_from_the_last_known_state() -> None:
    dec = GatewayDecoder(7001)
    dec.decode("GatewayUserPosition", env(POSITION), T0)
    ev = dec.decode("GatewayUserPosition", env({"contractId": ES}, 2), T0)
    assert isinstance(ev, PositionEvent) and ev.size == 0 and ev.id == 9
    # the removal is forgotten: a later partial update of the contract has nothing to borrow
    with pytest.raises(PayloadError):
        dec.decode("GatewayUserOrder", env({"status": 2}), T0)


# ---- missing fields ------------------------------------------------------------------------


def test_account_update_without_can_trade_or_balance_never_defaults_them() -> None:
    ev = event_from_gateway("GatewayUserAccount", env({"id": 7001, "name": "PRAC-1"}), T0)
    assert isinstance(ev, AccountEvent)
    assert ev.can_trade is None and ev.balance is None
    st = AccountState(7001)
    st.apply_account(AccountEvent(7001, "PRAC-1", Decimal(48_000), False, T0))
    st.apply_account(ev)
    assert st.ctx.account.can_trade is False
    assert st.ctx.account.balance == Decimal(48_000)


def test_decoder_fills_missing_fields_per_entity() -> None:
    dec = GatewayDecoder(7001)
    dec.decode("GatewayUserAccount", env(ACCOUNT), T0)
    acc = dec.decode("GatewayUserAccount", env({"id": 7001, "balance": 49_998.6}), T0)
    assert isinstance(acc, AccountEvent)
    assert acc.can_trade is False and acc.name == "PRAC-1"
    assert acc.balance == Decimal("49998.6")
    dec.decode("GatewayUserOrder", env(ORDER), T0)
    moved = dec.decode("GatewayUserOrder", env({"id": 41, "stopPrice": 5995.0}), T0)
    assert isinstance(moved, OrderEvent)
    assert (moved.type, moved.side, moved.size) == (OrderType.STOP, ORDER["side"], 1)
    assert moved.stop_price == Decimal("5995.0") and moved.contract_id == ES
    dec.decode("GatewayUserPosition", env(POSITION), T0)
    # an update without id, accountId, creationTimestamp (the SDK accepts those)
    grown = dec.decode("GatewayUserPosition", env({"contractId": ES, "size": 3}), T0)
    assert isinstance(grown, PositionEvent)
    assert (grown.id, grown.type, grown.avg_price) == (9, PositionType.LONG, Decimal("6000.25"))


def test_snapshot_objects_seed_the_decoder() -> None:
    dec = GatewayDecoder(7001)
    dec.remember("GatewayUserAccount", ACCOUNT)
    acc = dec.decode("GatewayUserAccount", env({"balance": 1.0}), T0)
    assert isinstance(acc, AccountEvent) and acc.id == 7001 and acc.can_trade is False


def test_replay_completes_partial_lines_like_the_live_adapter() -> None:
    lines = [
        {"ts": T0.isoformat(), "target": "GatewayUserOrder", "data": env(ORDER)},
        {"ts": T0.isoformat(), "target": "GatewayUserOrder", "data": env({"id": 41, "status": 3})},
    ]
    text = "\n".join(json.dumps(line) for line in lines)
    events = [r.event for r in iter_recording(io.StringIO(text), "x.jsonl")]
    last = events[-1]
    assert isinstance(last, OrderEvent) and last.status is OrderStatus.CANCELLED
    assert last.type is OrderType.STOP


# ---- unknown codes -------------------------------------------------------------------------


def test_unknown_order_codes_are_kept_as_unknown() -> None:
    ev = event_from_gateway("GatewayUserOrder", env({**ORDER, "type": 0, "status": 11}), T0)
    assert isinstance(ev, OrderEvent)
    assert ev.type is OrderType.UNKNOWN and ev.status is OrderStatus.UNKNOWN
    st = AccountState(7001)
    st.apply_position(_position(POSITION))
    st.apply_order(ev)
    assert 41 in st.orders  # kept: a flatten still cancels it


def test_a_stop_in_an_unknown_status_is_no_protection() -> None:
    st = AccountState(7001)
    st.apply_position(_position(POSITION))
    st.apply_order(_order(ORDER))
    assert st.positions[ES].view.has_stop
    st.apply_order(_order({**ORDER, "status": 9, "updateTimestamp": "2026-01-05T15:00:01Z"}))
    assert 41 in st.orders and not st.positions[ES].view.has_stop


def test_position_type_zero_with_a_size_is_not_a_close() -> None:
    st = AccountState(7001)
    st.apply_position(_position(POSITION))
    later = {**POSITION, "type": 0, "size": 3, "creationTimestamp": "2026-01-05T15:00:01Z"}
    st.apply_position(_position(later))
    pos = st.positions[ES]
    assert pos.long and pos.size == 3


def _order(data: dict[str, object]) -> OrderEvent:
    ev = event_from_gateway("GatewayUserOrder", env(data), T0)
    assert isinstance(ev, OrderEvent)
    return ev


def _position(data: dict[str, object]) -> PositionEvent:
    ev = event_from_gateway("GatewayUserPosition", env(data), T0)
    assert isinstance(ev, PositionEvent)
    return ev


# ---- property: an update that leaves out unchanged fields means the same as the full one -----

_ENTITIES = [
    ("GatewayUserAccount", ACCOUNT, ("id",)),
    ("GatewayUserOrder", ORDER, ("id",)),
    ("GatewayUserPosition", POSITION, ("contractId",)),
]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_ENTITIES), st.data())
def test_leaving_out_unchanged_fields_changes_nothing(entity: Any, data: Any) -> None:
    target, full, identity = entity
    optional = sorted(set(full) - set(identity))
    left_out = data.draw(st.sets(st.sampled_from(optional)), label="left out")
    partial = {k: v for k, v in full.items() if k not in left_out}
    dec = GatewayDecoder(7001)
    first = dec.decode(target, env(full), T0, received_ns=1)
    again = dec.decode(target, env(partial), T0, received_ns=1)
    assert again == first
