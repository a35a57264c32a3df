"""REST surface of the simulated gateway over real HTTP: auth, JWT, faults, request log."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from typing import Any

import aiohttp
import pytest

from rmdsl.broker.simgateway import SimGateway


async def post(gw: SimGateway, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.api_url + path, json=body, headers=headers) as resp:
            return resp.status, await resp.json()


async def login(gw: SimGateway) -> str:
    status, body = await post(gw, "/Auth/loginKey", {"userName": "u", "apiKey": "k" * 12})
    assert status == 200 and body["success"] is True
    return str(body["token"])


async def test_login_issues_a_jwt_with_expiry(gw: SimGateway) -> None:
    token = await login(gw)
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    expires = dt.datetime.fromtimestamp(claims["exp"], dt.UTC)
    assert dt.timedelta(hours=23) < expires - dt.datetime.now(dt.UTC) < dt.timedelta(hours=25)


async def test_requests_without_a_valid_token_get_401(gw: SimGateway) -> None:
    assert (await post(gw, "/Account/search", {}))[0] == 401
    assert (await post(gw, "/Account/search", {}, token="forged.token.x"))[0] == 401
    status, body = await post(gw, "/Account/search", {}, token=await login(gw))
    assert status == 200 and body["accounts"][0]["name"] == "PRAC-SIM-1"


async def test_api_keys_are_checked_when_configured() -> None:
    async with SimGateway(api_keys={"alice": "secret-key-123"}) as gw:
        _, bad = await post(gw, "/Auth/loginKey", {"userName": "alice", "apiKey": "wrong-key-000"})
        _, good = await post(
            gw, "/Auth/loginKey", {"userName": "alice", "apiKey": "secret-key-123"}
        )
    assert bad["success"] is False and bad["token"] is None
    assert good["success"] is True


async def test_error_fault_then_normal_service(gw: SimGateway) -> None:
    token = await login(gw)
    gw.inject_error("/Order/place", code=2, message="nope", count=2)
    body = {"accountId": gw.account_id, "contractId": "MNQ", "type": 2, "side": 0, "size": 1}
    answers = [(await post(gw, "/Order/place", body, token))[1] for _ in range(3)]
    assert [a["success"] for a in answers] == [False, False, True]
    assert (answers[0]["errorCode"], answers[0]["errorMessage"]) == (2, "nope")
    assert gw.position_size("MNQ") == 1
    assert len(gw.requests.calls("/Order/place")) == 3


async def test_the_request_log_keeps_each_answer(gw: SimGateway) -> None:
    token = await login(gw)
    body = {"accountId": gw.account_id, "contractId": "CON.F.US.MNQ.Z25"}
    gw.trader_place("MNQ", "buy", "market", 1)
    await post(gw, "/Position/closeContract", body, token)
    await post(gw, "/Position/closeContract", body, token)  # flat by now
    gw.inject_status("/Position/closeContract", 500)
    await post(gw, "/Position/closeContract", body, token)
    answers = gw.requests.answered("/Position/closeContract")
    codes = [(a.status, a.body.get("errorCode")) for a in answers]
    assert codes == [(200, 0), (200, 2), (500, None)]
    assert answers[0].request.body == body
    assert answers[0].body["success"] is True and answers[1].body["success"] is False
    assert all(a.answered_ns >= a.request.received_ns for a in answers)


async def test_status_and_delay_faults(gw: SimGateway) -> None:
    token = await login(gw)
    gw.inject_status("/Position/searchOpen", 503)
    assert (await post(gw, "/Position/searchOpen", {"accountId": gw.account_id}, token))[0] == 503
    gw.inject_delay("/Position/searchOpen", 0.2)
    started = time.monotonic()
    status, body = await post(gw, "/Position/searchOpen", {"accountId": gw.account_id}, token)
    assert status == 200 and body["positions"] == []
    assert time.monotonic() - started >= 0.2


async def test_request_log_records_body_and_arrival(gw: SimGateway) -> None:
    token = await login(gw)
    before = time.monotonic_ns()
    await post(gw, "/Contract/searchById", {"contractId": "CON.F.US.EP.Z25"}, token)
    record = await gw.requests.wait_for("/Contract/searchById", timeout=1)
    assert record.body == {"contractId": "CON.F.US.EP.Z25"}
    assert before <= record.received_ns <= time.monotonic_ns()


@pytest.mark.parametrize(
    ("path", "body", "key", "expected"),
    [
        ("/Contract/search", {"searchText": "ES", "live": False}, "contracts", ["ESZ5"]),
        ("/Contract/search", {"searchText": "NQ", "live": False}, "contracts", ["NQZ5"]),
        (
            "/Contract/search",
            {"searchText": "Russell", "live": False},
            "contracts",
            ["M2KZ5", "RTYZ5"],
        ),
    ],
)
async def test_contract_search(
    gw: SimGateway, path: str, body: Any, key: str, expected: list[str]
) -> None:
    _, answer = await post(gw, path, body, await login(gw))
    assert [c["name"] for c in answer[key]] == expected


async def test_unknown_order_and_bad_request(gw: SimGateway) -> None:
    token = await login(gw)
    _, missing = await post(
        gw, "/Order/searchById", {"accountId": gw.account_id, "orderId": 5}, token
    )
    assert missing["success"] is False and missing["errorCode"] == 2
    status, _ = await post(gw, "/Order/place", {"accountId": gw.account_id}, token)
    assert status == 400
    status, _ = await post(gw, "/Nope/nothing", {}, token)
    assert status == 404


async def test_trade_search_filters_by_time(gw: SimGateway) -> None:
    token = await login(gw)
    gw.trader_place("MES", "buy")
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    _, none = await post(
        gw, "/Trade/search", {"accountId": gw.account_id, "startTimestamp": future}, token
    )
    _, all_ = await post(gw, "/Trade/search", {"accountId": gw.account_id}, token)
    assert none["trades"] == [] and len(all_["trades"]) == 1
