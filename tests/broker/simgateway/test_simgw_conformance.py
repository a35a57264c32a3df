"""The simulated gateway's pushes and REST answers have the shape of tests/fixtures/gateway.

Same keys, same JSON types, same `{action, data}` envelope and action as the
payloads taken from the official docs and the live captures: the simulator
cannot drift from the fixtures the adapter's mapping tests run on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from tests.fixtures.gateway.loader import load, shape_diff

from rmdsl.broker.simgateway import Market, Push, SimGateway


def _fill_pushes() -> list[Push]:
    """One round trip and a resting stop, as the model pushes them."""
    pushes: list[Push] = []
    market = Market(pushes.append)
    acc = market.add_account("PRAC-1")
    market.set_quote("ES", price=None)
    sim = SimGateway.__new__(SimGateway)  # only for its argument helpers: no server
    sim.market = market
    sim.trader_place("ES", "buy", "market", 1, account=acc.id)
    market.set_quote("ES", market.quotes[market.resolve_contract("ES").contract_id].last + 1)
    sim.trader_place("ES", "sell", "market", 1, account=acc.id)
    sim.trader_place("ES", "buy", "market", 1, account=acc.id)
    sim.trader_place("ES", "sell", "stop", 1, stop_price="5000", account=acc.id)
    return pushes


def _fixture_for(push: Push) -> tuple[str, Any]:
    """The fixture a push must look like, and the fixture argument to compare with."""
    if push.target == "GatewayQuote":
        return "hub_market_quote.json", load("hub_market_quote.json")["arguments"]
    data = push.arguments[0]["data"]
    if push.target == "GatewayUserTrade":
        name = "hub_user_trade_" + ("opening" if data["profitAndLoss"] is None else "closing")
    elif push.target == "GatewayUserOrder":
        name = "hub_user_order_" + ("stop" if data["type"] == 4 else "market_fill")
    elif push.target == "GatewayUserPosition":
        name = "hub_user_position_" + ("closed" if data["size"] == 0 else "open")
    else:
        name = "hub_user_account"
    return f"{name}.json", load(f"{name}.json")["arguments"][0]


def test_every_push_of_a_fill_has_the_fixture_shape_and_envelope() -> None:
    pushes = _fill_pushes()
    targets = {p.target for p in pushes}
    assert targets >= {"GatewayQuote", "GatewayUserTrade", "GatewayUserOrder"}
    assert targets >= {"GatewayUserPosition", "GatewayUserAccount"}
    for push in pushes:
        name, want = _fixture_for(push)
        got = list(push.arguments) if push.target == "GatewayQuote" else push.arguments[0]
        assert shape_diff(want, got) == [], f"{push.target} vs {name}"
        if push.target != "GatewayQuote":
            assert got["action"] == want["action"], f"{push.target}: action of {name}"


@pytest.fixture
async def rest() -> AsyncIterator[tuple[SimGateway, aiohttp.ClientSession, dict[str, Any]]]:
    async with SimGateway() as gw, aiohttp.ClientSession() as http:
        login = await _post(http, gw, "/Auth/loginKey", load("rest_auth_loginKey.json")["request"])
        headers = {"Authorization": f"Bearer {login['token']}"}
        yield gw, http, {"login": login, "headers": headers}


async def _post(
    http: aiohttp.ClientSession,
    gw: SimGateway,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Any:
    async with http.post(gw.api_url + path, json=body, headers=headers) as resp:
        assert resp.status == 200, path
        return await resp.json()


async def test_rest_answers_have_the_fixture_shape(rest: Any) -> None:
    gw, http, ctx = rest
    assert shape_diff(load("rest_auth_loginKey.json")["response"], ctx["login"]) == []
    acc = gw.account_id
    gw.trader_place("ES", "buy", "market", 1)
    gw.set_quote("ES", gw.market.quotes[gw.market.resolve_contract("ES").contract_id].last + 1)
    gw.trader_place("ES", "sell", "market", 1)
    gw.trader_place("ES", "buy", "market", 1)
    gw.trader_place("ES", "sell", "stop", 1, stop_price="5000")
    es = gw.market.resolve_contract("ES").contract_id
    place = {**load("rest_order_place.json")["request"], "accountId": acc, "contractId": es}
    place["side"] = 0  # a buy: the position stays open for the close below
    bodies = {
        "rest_auth_validate.json": {},
        "rest_account_search.json": {"onlyActiveAccounts": True},
        "rest_trade_search.json": {"accountId": acc, "startTimestamp": "2000-01-01T00:00:00Z"},
        "rest_position_searchOpen.json": {"accountId": acc},
        "rest_order_searchOpen.json": {"accountId": acc},
        "rest_order_place.json": place,
        "rest_position_closeContract.json": {"accountId": acc, "contractId": es},
    }
    for name, body in bodies.items():
        fixture = load(name)
        got = await _post(http, gw, fixture["path"], body, ctx["headers"])
        nullable = frozenset(fixture.get("_nullable", ()))
        assert got["success"] is True, (name, got)
        assert shape_diff(fixture["response"], got, nullable=nullable) == [], name


async def test_close_errors_use_the_documented_codes(rest: Any) -> None:
    gw, http, ctx = rest
    fixture = load("rest_position_closeContract.json")
    codes = {e["errorCode"] for e in fixture["errors"]}
    acc, es = gw.account_id, gw.market.resolve_contract("ES").contract_id
    flat = await _post(
        http, gw, fixture["path"], {"accountId": acc, "contractId": es}, ctx["headers"]
    )
    unknown = await _post(
        http,
        gw,
        fixture["path"],
        {"accountId": acc, "contractId": "CON.F.US.XX.Z99"},
        ctx["headers"],
    )
    gw.trader_place("ES", "buy", "market", 1)
    too_big = await _post(
        http,
        gw,
        "/Position/partialCloseContract",
        {"accountId": acc, "contractId": es, "size": 5},
        ctx["headers"],
    )
    gw.market.closes_when_cannot_trade = False
    gw.set_can_trade(False)
    refused = await _post(
        http, gw, fixture["path"], {"accountId": acc, "contractId": es}, ctx["headers"]
    )
    refused_partial = await _post(
        http,
        gw,
        "/Position/partialCloseContract",
        {"accountId": acc, "contractId": es, "size": 1},
        ctx["headers"],
    )
    answers = (flat, unknown, too_big, refused, refused_partial)
    got = [a["errorCode"] for a in answers]
    assert got == [2, 3, 5, 8, 9]  # the account rejected: 8 on closeContract, 9 on partial
    assert set(got) <= codes
    for answer in answers:
        assert shape_diff(fixture["errors"][0], answer, nullable=frozenset({"errorMessage"})) == []
