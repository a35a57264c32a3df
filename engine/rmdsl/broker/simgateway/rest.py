"""REST endpoints of the simulated gateway: JSON request -> Market call -> gateway JSON response.

Paths and bodies follow what project-x-py 4.4.1 sends (client/, order_manager/,
position_manager/); every response carries success, errorCode, errorMessage.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from rmdsl.broker.simgateway.auth import RateLimits, Tokens
from rmdsl.broker.simgateway.faults import (
    DelayFault,
    ErrorFault,
    FaultPlan,
    Freeze,
    IgnoreFault,
    RequestLog,
    StatusFault,
)
from rmdsl.broker.simgateway.market import Market, OrderRequest
from rmdsl.broker.simgateway.orders import ERR_ORDER_NOT_FOUND, GatewayRejection, order_payload
from rmdsl.broker.simgateway.positions import account_payload

Body = dict[str, Any]
Handler = Callable[[Body], Body]
_OPEN_PATHS = {"/Auth/loginKey", "/Status/ping"}


def ok(**fields: Any) -> Body:
    return {"success": True, "errorCode": 0, "errorMessage": None, **fields}


def fail(code: int, message: str, **fields: Any) -> Body:
    return {"success": False, "errorCode": code, "errorMessage": message, **fields}


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _ts(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class RestApi:
    """The /api/* routes: log, authorize, inject faults, dispatch to the Market."""

    def __init__(
        self,
        market: Market,
        tokens: Tokens,
        faults: FaultPlan,
        log: RequestLog,
        api_keys: dict[str, str] | None = None,
        freeze: Freeze | None = None,
        limits: RateLimits | None = None,
    ) -> None:
        self.market = market
        self.tokens = tokens
        self.limits = limits or RateLimits()
        self.faults = faults
        self.freeze = freeze or Freeze()
        self.log = log
        self.api_keys = api_keys
        self._handlers: dict[str, Handler] = {
            "/Auth/logout": lambda body: ok(),
            "/Account/search": self._accounts,
            "/Contract/search": self._contract_search,
            "/Contract/searchById": self._contract_by_id,
            "/Contract/available": lambda body: ok(
                contracts=[c.payload() for c in market.contracts.values()]
            ),
            "/Position/searchOpen": lambda b: ok(positions=market.open_positions(b["accountId"])),
            "/Position/closeContract": self._close,
            "/Position/partialCloseContract": self._partial_close,
            "/Order/place": self._place,
            "/Order/cancel": self._cancel,
            "/Order/modify": self._modify,
            "/Order/search": self._order_search,
            "/Order/searchOpen": lambda b: ok(orders=market.orders(b["accountId"], open_only=True)),
            "/Order/searchById": self._order_by_id,
            "/Trade/search": self._trade_search,
            "/History/retrieveBars": self._bars,
        }

    def routes(self, prefix: str = "/api") -> list[web.RouteDef]:
        return [web.route("*", prefix + "/{tail:.*}", self._handle)]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body = await _json_body(request)
        record = self.log.add(path, body)
        response = await self._serve(request, path, body)
        self.log.answer(record, response.status, _answer_body(response))
        return response

    async def _serve(self, request: web.Request, path: str, body: Any) -> web.Response:
        await self.freeze.wait()
        fault = self.faults.take(path)
        if isinstance(fault, DelayFault):
            await asyncio.sleep(fault.seconds)
        elif isinstance(fault, StatusFault):
            return web.json_response({"message": fault.message}, status=fault.status)
        elif isinstance(fault, ErrorFault):
            return web.json_response(fail(fault.code, fault.message))
        elif isinstance(fault, IgnoreFault):
            return web.json_response(ok())
        if path in _OPEN_PATHS:
            return await self._dispatch(path, body)
        token = _bearer(request)
        # /Auth/validate may renew an expired token (Tokens.validate_expired)
        if not self.tokens.ok(token) and path != "/Auth/validate":
            return web.json_response({"message": "Unauthorized"}, status=401)
        if not self.limits.admit(self.tokens.subject(token) or "", path):
            after = self.limits.retry_after_s
            headers = {"Retry-After": str(after)} if after is not None else None
            return web.json_response({"message": "Too Many Requests"}, status=429, headers=headers)
        if path == "/Auth/validate":
            return _validated(self.tokens.renew(token))
        return await self._dispatch(path, body)

    async def _dispatch(self, path: str, body: Body) -> web.Response:
        if path == "/Status/ping":
            return web.json_response("pong")
        if path == "/Auth/loginKey":
            return web.json_response(self._login(body))
        handler = self._handlers.get(path)
        if handler is None:
            return web.json_response({"message": f"No such endpoint {path}"}, status=404)
        try:
            return web.json_response(handler(body))
        except GatewayRejection as exc:
            return web.json_response(fail(exc.code, exc.message))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            return web.json_response({"message": f"Bad request: {exc!r}"}, status=400)

    # -- auth / reference data -------------------------------------------

    def _login(self, body: Body) -> Body:
        user, key = str(body.get("userName", "")), str(body.get("apiKey", ""))
        if self.api_keys is not None and self.api_keys.get(user) != key:
            return fail(3, "Invalid credentials", token=None)
        return ok(token=self.tokens.issue(user))

    def _accounts(self, body: Body) -> Body:
        return ok(accounts=[account_payload(a) for a in self.market.iter_accounts()])

    def _contract_search(self, body: Body) -> Body:
        found = self.market.search_contracts(str(body.get("searchText") or ""))
        return ok(contracts=[c.payload() for c in found])

    def _contract_by_id(self, body: Body) -> Body:
        return ok(contract=self.market.resolve_contract(str(body["contractId"])).payload())

    # -- orders and positions ----------------------------------------------

    def _place(self, body: Body) -> Body:
        req = OrderRequest(
            account_id=int(body["accountId"]),
            contract_id=str(body["contractId"]),
            type=int(body["type"]),
            side=int(body["side"]),
            size=body["size"],
            limit_price=_dec(body.get("limitPrice")),
            stop_price=_dec(body.get("stopPrice")),
            trail_price=_dec(body.get("trailPrice")),
            custom_tag=body.get("customTag"),
        )
        return ok(orderId=self.market.place_order(req).id)

    def _cancel(self, body: Body) -> Body:
        self.market.cancel_order(int(body["accountId"]), int(body["orderId"]))
        return ok()

    def _modify(self, body: Body) -> Body:
        self.market.modify_order(
            int(body["accountId"]),
            int(body["orderId"]),
            size=body.get("size"),
            limit_price=_dec(body.get("limitPrice")),
            stop_price=_dec(body.get("stopPrice")),
            trail_price=_dec(body.get("trailPrice")),
        )
        return ok()

    def _close(self, body: Body) -> Body:
        """{success, errorCode, errorMessage} and no orderId, as the gateway answers a close."""
        self.market.close_position(int(body["accountId"]), str(body["contractId"]))
        return ok()

    def _partial_close(self, body: Body) -> Body:
        self.market.close_position(
            int(body["accountId"]), str(body["contractId"]), int(body["size"])
        )
        return ok()

    def _order_search(self, body: Body) -> Body:
        start, end = _ts(body.get("startTimestamp")), _ts(body.get("endTimestamp"))
        orders = self.market.book.for_account(
            self.market.account(body["accountId"]).id, open_only=False
        )
        return ok(
            orders=[
                order_payload(o, self.market.contracts[o.contract_id])
                for o in orders
                if (start is None or o.created >= start) and (end is None or o.created <= end)
            ]
        )

    def _order_by_id(self, body: Body) -> Body:
        acc = self.market.account(body["accountId"])
        order = self.market.book.get(acc.id, int(body["orderId"]))
        if order is None:
            return fail(ERR_ORDER_NOT_FOUND, f"Order {body['orderId']} not found", order=None)
        return ok(order=order_payload(order, self.market.contracts[order.contract_id]))

    def _trade_search(self, body: Body) -> Body:
        acc = self.market.account(body["accountId"])
        start, end = _ts(body.get("startTimestamp")), _ts(body.get("endTimestamp"))
        return ok(
            trades=self.market.ledger.trades_between(acc.id, start, end, body.get("contractId"))
        )

    def _bars(self, body: Body) -> Body:
        """A few flat bars at the current price: enough for clients that want history."""
        spec = self.market.resolve_contract(str(body["contractId"]))
        quote = self.market.quotes[spec.contract_id]
        now = self.market.clock.now().replace(second=0, microsecond=0)
        count = max(0, min(int(body.get("limit") or 20), 20))
        price = float(quote.last)
        bars = [
            {
                "t": (now - dt.timedelta(minutes=i)).isoformat(),
                "o": price,
                "h": price,
                "l": price,
                "c": price,
                "v": 0,
            }
            for i in range(count)
        ]
        return ok(bars=bars)


def _validated(new_token: str | None) -> web.Response:
    """The official example answers success with `newToken`; a refused token is a 401."""
    if new_token is None:
        return web.json_response({"message": "Unauthorized"}, status=401)
    return web.json_response(ok(newToken=new_token))


async def _json_body(request: web.Request) -> Any:
    if not request.can_read_body:
        return None
    try:
        return await request.json()
    except ValueError:
        return None


def _answer_body(response: web.Response) -> Any:
    try:
        return json.loads(response.text or "null")
    except ValueError:
        return None


def _bearer(request: web.Request) -> str:
    return request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
