"""The adapter's mapping on the conformance fixtures (tests/fixtures/gateway, their sources inside).

Hub payloads go through the decoder the live feed uses; REST bodies through
the SDK's own models (`from_api`, as its client builds them) and then the
adapter's model -> event mapping; error answers through the adapter's check.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from project_x_py import models
from tests.fixtures.gateway.loader import load, names

from rmdsl.broker.decode.partial import GatewayDecoder
from rmdsl.broker.projectx_calls import check_answer
from rmdsl.broker.projectx_stream import event_from_model
from rmdsl.contract.events import Event, OrderEvent, TradeEvent
from rmdsl.errors import BrokerError

NOW = dt.datetime(2025, 1, 21, 17, 0, tzinfo=dt.UTC)
HUB = names("hub_")


def check(event: Event, expect: dict[str, Any]) -> None:
    assert type(event).__name__ == expect["kind"]
    for field, want in expect.items():
        if field == "kind":
            continue
        got = getattr(event, field)
        if want is None or (isinstance(want, bool | int) and not isinstance(got, Decimal)):
            assert got == want, field
        elif isinstance(got, Decimal):
            assert got == Decimal(want), field
        elif hasattr(got, "name") and field in ("status", "type"):
            assert got.name == want, field
        elif hasattr(got, "word"):
            assert got.word == want, field
        else:
            assert got == want, field


@pytest.mark.parametrize("name", HUB)
def test_hub_fixture_maps_to_the_expected_event(name: str) -> None:
    fixture = load(name)
    decoder = GatewayDecoder()
    args = fixture["arguments"]
    payload: Any = args if fixture["target"] == "GatewayQuote" else args[0]
    event = decoder.decode(fixture["target"], payload, NOW)
    check(event, fixture["_expect"])


def test_the_fill_sequence_of_a_market_order_ends_filled() -> None:
    fixture = load("hub_user_order_market_fill.json")
    decoder = GatewayDecoder()
    events = [
        decoder.decode("GatewayUserOrder", p, NOW) for p in fixture["arguments"] + fixture["then"]
    ]
    assert [e.working for e in events if isinstance(e, OrderEvent)] == [True, False]


@pytest.mark.parametrize(
    ("name", "key", "model", "target"),
    [
        ("rest_account_search.json", "accounts", models.Account, "GatewayUserAccount"),
        ("rest_position_searchOpen.json", "positions", models.Position, "GatewayUserPosition"),
        ("rest_order_searchOpen.json", "orders", models.Order, "GatewayUserOrder"),
    ],
)
def test_rest_objects_map_through_the_sdk_models(
    name: str, key: str, model: Any, target: str
) -> None:
    fixture = load(name)
    (obj,) = fixture["response"][key]
    check(event_from_model(target, model.from_api(obj), NOW), fixture["_expect"])


def test_trade_search_example_gross_and_fees_per_half_turn() -> None:
    """Gross 50.00 on the closing fill, 1.40 on each of the two fills: net 47.20."""
    fixture = load("rest_trade_search.json")
    trades = [
        event_from_model("GatewayUserTrade", models.Trade.from_api(t), NOW)
        for t in fixture["response"]["trades"]
    ]
    assert all(isinstance(t, TradeEvent) for t in trades)
    gross = sum((t.pnl or Decimal(0) for t in trades if isinstance(t, TradeEvent)), Decimal(0))
    fees = sum((t.fees for t in trades if isinstance(t, TradeEvent)), Decimal(0))
    want = fixture["_expect"]
    assert (gross, fees, gross - fees) == tuple(
        Decimal(want[k]) for k in ("gross_pnl", "fees", "net_pnl")
    )


@pytest.mark.parametrize("name", ["rest_position_closeContract.json", "rest_order_place.json"])
def test_answers_success_passes_and_every_error_code_fails(name: str) -> None:
    fixture = load(name)
    check_answer("call", fixture["response"])
    for answer in fixture["errors"]:
        with pytest.raises(BrokerError, match=f"errorCode {answer['errorCode']}"):
            check_answer("call", answer)
