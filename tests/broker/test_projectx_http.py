"""The REAL project-x-py REST client under ProjectXBroker, against a fake gateway on loopback.

The SDK's REST transport is httpx, which aioresponses (aiohttp-only) cannot
intercept, so the gateway's endpoints are served by a small aiohttp app on
127.0.0.1 that records each request: these tests prove the bodies the SDK
sends for our calls. Hubs are out of scope here (the mock realtime client
stands in); test_projectx_e2e.py runs everything against the simulated gateway.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tests.mocks.mock_sdk import MockRealtime

from rmdsl.broker.projectx import ProjectXBroker
from rmdsl.broker.projectx_sdk import ProjectXSdk
from rmdsl.broker.projectx_settings import ProjectXSettings
from rmdsl.contract.broker import OrderChange, OrderRequest
from rmdsl.contract.events import Event, OrderType, Side
from rmdsl.errors import BrokerError

KEY = "key-0123456789abcdef"
MNQ = "CON.F.US.MNQ.Z26"
DAY_START = dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC)
TS = "2026-11-24T15:30:00+00:00"
OK: dict[str, Any] = {"success": True, "errorCode": 0, "errorMessage": None}
Answer = dict[str, Any] | Callable[[dict[str, Any]], web.Response]


def _jwt() -> str:
    payload = json.dumps({"exp": int(time.time()) + 3600}).encode()
    return "h." + base64.urlsafe_b64encode(payload).decode().rstrip("=") + ".s"


def _contract(contract_id: str = MNQ) -> dict[str, Any]:
    name = contract_id.split(".")[3]
    return {"id": contract_id, "name": name, "description": name, "tickSize": 0.25,
            "tickValue": 0.5, "activeContract": True, "symbolId": f"F.US.{name}"}  # fmt: skip


class FakeGateway:
    """POST <base>/api/<Endpoint>: a canned JSON answer per endpoint; every request recorded."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any], str | None]] = []
        accounts = [
            {"id": 7001, "name": "PRACTICE-1", "balance": 50000, "canTrade": True,
             "isVisible": True, "simulated": True},
            {"id": 7002, "name": "LIVE-1", "balance": 48000.5, "canTrade": True,
             "isVisible": True, "simulated": False},
        ]  # fmt: skip
        self.answers: dict[str, Answer] = {
            "/Auth/loginKey": {**OK, "token": _jwt()},
            "/Account/search": {**OK, "accounts": accounts},
            "/Position/searchOpen": {**OK, "positions": []},
            "/Order/searchOpen": {**OK, "orders": []},
            "/Order/searchById": {**OK, "order": None},
            "/Trade/search": {**OK, "trades": []},
            "/Contract/searchById": {**OK, "contract": _contract()},
            "/Contract/search": {**OK, "contracts": [_contract()]},
            "/Position/closeContract": dict(OK),
            "/Position/partialCloseContract": dict(OK),
            "/Order/place": {**OK, "orderId": 9001},
            "/Order/cancel": dict(OK),
            "/Order/modify": dict(OK),
        }

    async def handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["endpoint"]
        body = await request.json() if request.can_read_body else {}
        self.requests.append((path, body, request.headers.get("Authorization")))
        answer = self.answers.get(path)
        if answer is None:
            return web.json_response({"message": f"no route {path}"}, status=404)
        return answer(body) if callable(answer) else web.json_response(answer)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body, _ in self.requests if p == path]


class RestOnlySdk:
    """The real SDK factory, with the realtime client swapped for the mock (REST under test)."""

    def __init__(self) -> None:
        self.real = ProjectXSdk()
        self.realtime = MockRealtime(7002)

    async def login(self, settings: ProjectXSettings) -> Any:
        return await self.real.login(settings)

    async def open_suite(self, client: Any) -> Any:
        suite = await self.real.open_suite(client)
        suite.realtime = self.realtime
        return suite

    async def logout(self, client: Any) -> None:
        await self.real.logout(client)


async def _ignore(event: Event) -> None:
    return None


@pytest.fixture
async def gateway(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FakeGateway, str]]:
    for name in ("PROJECTX_API_URL", "PROJECTX_USER_HUB_URL", "PROJECTX_MARKET_HUB_URL"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeGateway()
    app = web.Application()
    app.router.add_post("/api/{endpoint:.+}", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield fake, str(server.make_url("/api"))
    finally:
        await server.close()


def _broker(api_url: str, account: str = "live-1", **kw: Any) -> ProjectXBroker:
    return ProjectXBroker(
        account,
        api_key=KEY,
        username="trader",
        api_url=api_url,
        user_hub_url="http://127.0.0.1:9/hubs/user",
        market_hub_url="http://127.0.0.1:9/hubs/market",
        day_start=lambda now: DAY_START,
        watch_interval_s=3600.0,
        sdk=RestOnlySdk(),
        **kw,
    )


@pytest.fixture
async def live(
    gateway: tuple[FakeGateway, str],
) -> AsyncIterator[tuple[ProjectXBroker, FakeGateway]]:
    fake, url = gateway
    broker = _broker(url)
    await broker.connect(_ignore)
    try:
        yield broker, fake
    finally:
        await broker.disconnect()


async def test_login_sends_the_key_and_chooses_the_named_account(
    live: tuple[ProjectXBroker, FakeGateway],
) -> None:
    broker, fake = live
    assert fake.bodies("/Auth/loginKey") == [{"userName": "trader", "apiKey": KEY}]
    assert fake.bodies("/Account/search")[0] == {"onlyActiveAccounts": True}
    assert broker.account_id == 7002  # the second account, matched case-insensitively
    await broker.snapshot()
    assert fake.bodies("/Position/searchOpen") == [{"accountId": 7002}]
    auth = {a for p, _, a in fake.requests if p != "/Auth/loginKey"}
    assert len(auth) == 1 and auth.pop() == f"Bearer {fake.answers['/Auth/loginKey']['token']}"  # type: ignore[index]


async def test_snapshot_reads_open_orders_and_the_days_trades(
    live: tuple[ProjectXBroker, FakeGateway],
) -> None:
    broker, fake = live
    fake.answers["/Position/searchOpen"] = {**OK, "positions": [
        {"id": 5, "accountId": 7002, "contractId": MNQ, "creationTimestamp": TS, "type": 1,
         "size": 2, "averagePrice": 21000.25},
    ]}  # fmt: skip
    fake.answers["/Order/searchOpen"] = {**OK, "orders": [
        {"id": 77, "accountId": 7002, "contractId": MNQ, "creationTimestamp": TS,
         "updateTimestamp": TS, "status": 1, "type": 4, "side": 1, "size": 2,
         "stopPrice": 20950.0, "limitPrice": None, "fillVolume": 0},
    ]}  # fmt: skip
    fake.answers["/Trade/search"] = {**OK, "trades": [
        {"id": 3, "accountId": 7002, "contractId": MNQ, "creationTimestamp": TS, "price": 21000.25,
         "profitAndLoss": None, "fees": 0.74, "side": 0, "size": 2, "voided": False, "orderId": 70},
    ]}  # fmt: skip
    snap = await broker.snapshot()
    assert fake.bodies("/Order/searchOpen") == [{"accountId": 7002}]
    [trades] = fake.bodies("/Trade/search")
    assert trades["accountId"] == 7002 and trades["startTimestamp"] == DAY_START.isoformat()
    assert dt.datetime.fromisoformat(trades["endTimestamp"]) > DAY_START
    assert fake.bodies("/Contract/searchById") == [{"contractId": MNQ}]
    assert snap.account.balance == Decimal("48000.5")
    assert [(p.size, p.avg_price) for p in snap.positions] == [(2, Decimal("21000.25"))]
    assert [(o.id, o.type) for o in snap.open_orders] == [(77, OrderType.STOP)]
    assert [(t.id, t.pnl) for t in snap.trades_today] == [(3, None)]
    assert snap.contracts[0].tick_value == Decimal("0.5")


async def test_close_position_posts_close_contract(
    live: tuple[ProjectXBroker, FakeGateway],
) -> None:
    broker, fake = live
    await broker.close_position(MNQ)
    assert fake.bodies("/Position/closeContract") == [{"accountId": 7002, "contractId": MNQ}]


async def test_close_position_rejection_carries_the_gateway_message(
    live: tuple[ProjectXBroker, FakeGateway],
) -> None:
    broker, fake = live
    fake.answers["/Position/closeContract"] = {
        "success": False, "errorCode": 2, "errorMessage": "Position not found"}  # fmt: skip
    with pytest.raises(BrokerError, match="Position not found"):
        await broker.close_position(MNQ)


async def test_server_error_on_a_mutating_call_is_not_retried(
    live: tuple[ProjectXBroker, FakeGateway],
) -> None:
    broker, fake = live
    fake.answers["/Position/closeContract"] = lambda body: web.Response(status=500, text="down")
    with pytest.raises(BrokerError, match=f"close position {MNQ}"):
        await broker.close_position(MNQ)
    assert len(fake.bodies("/Position/closeContract")) == 1


async def test_partial_close_posts_partial_close_contract(
    live: tuple[ProjectXBroker, FakeGateway],
) -> None:
    broker, fake = live
    await broker.partial_close(MNQ, 1)
    assert fake.bodies("/Position/partialCloseContract") == [
        {"accountId": 7002, "contractId": MNQ, "size": 1}
    ]


async def test_place_cancel_modify_bodies(live: tuple[ProjectXBroker, FakeGateway]) -> None:
    broker, fake = live
    stop = OrderRequest(MNQ, OrderType.STOP, Side.SELL, 1, stop_price=Decimal("20950.25"),
                        custom_tag="rmdsl:stop")  # fmt: skip
    assert await broker.place_order(stop) == 9001
    assert fake.bodies("/Order/place") == [
        {"accountId": 7002, "contractId": MNQ, "type": 4, "side": 1, "size": 1,
         "limitPrice": None, "stopPrice": 20950.25, "trailPrice": None, "customTag": "rmdsl:stop"}
    ]  # fmt: skip
    await broker.cancel_order(55)
    assert fake.bodies("/Order/cancel") == [{"accountId": 7002, "orderId": 55}]
    fake.answers["/Order/searchById"] = {**OK, "order": {
        "id": 88, "accountId": 7002, "contractId": MNQ, "creationTimestamp": TS,
        "updateTimestamp": TS, "status": 1, "type": 4, "side": 1, "size": 1,
        "stopPrice": 20950.0}}  # fmt: skip
    await broker.modify_order(88, OrderChange(stop_price=Decimal("20975.5")))
    assert fake.bodies("/Order/modify") == [
        {"accountId": 7002, "orderId": 88, "stopPrice": 20975.5}
    ]


async def test_order_rejection_is_a_broker_error(live: tuple[ProjectXBroker, FakeGateway]) -> None:
    broker, fake = live
    fake.answers["/Order/place"] = {
        "success": False, "errorCode": 2, "errorMessage": "Insufficient margin",
        "orderId": None}  # fmt: skip
    with pytest.raises(BrokerError, match="Insufficient margin"):
        await broker.place_order(OrderRequest(MNQ, OrderType.MARKET, Side.BUY, 1))


async def test_wrong_account_name_with_the_real_sdk(gateway: tuple[FakeGateway, str]) -> None:
    _, url = gateway
    broker = _broker(url, account="COMBINE-9")
    with pytest.raises(BrokerError, match="available accounts: LIVE-1, PRACTICE-1"):
        await broker.connect(_ignore)


async def test_rejected_api_key_is_a_broker_error(gateway: tuple[FakeGateway, str]) -> None:
    fake, url = gateway
    fake.answers["/Auth/loginKey"] = lambda body: web.json_response({}, status=401)
    with pytest.raises(BrokerError, match=r"login: .*Authentication failed"):
        await _broker(url).connect(_ignore)
