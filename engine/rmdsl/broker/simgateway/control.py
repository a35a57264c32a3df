"""The simulated gateway's control routes (`/sim/*`, JSON, loopback only) for `rmdsl sim`.

A trader rehearsing on `rmdsl sim` trades "from the broker's UI" with these,
from another terminal (`rmdsl sim order buy 2 MNQ`): the orders go through the
same book and the same pushes as the SDK's, exactly as a scenario's `trader`
steps do (scenario.py). Every answer is `{"ok": true, ...}` or `{"ok": false,
"error": "..."}` with a message a person can read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from rmdsl.broker.simgateway.orders import GatewayRejection, SimOrder
from rmdsl.broker.simgateway.scenario import ScenarioError, ScriptPlayer, parse_script
from rmdsl.broker.simgateway.server import SimGateway

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ORDER_TYPES = ("market", "limit", "stop")


class ControlError(Exception):
    """A control request that cannot be carried out: the message is shown as is."""


def _loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _order_json(order: SimOrder, gw: SimGateway) -> dict[str, Any]:
    spec = gw.market.contracts[order.contract_id]
    return {
        "id": order.id,
        "contract": spec.symbol,
        "side": order.side.name.lower(),
        "type": order.type.name.lower(),
        "size": order.size,
        "status": order.status.name.lower(),
        "limit": None if order.limit_price is None else str(order.limit_price),
        "stop": None if order.stop_price is None else str(order.stop_price),
    }


def _size(body: Mapping[str, Any]) -> int:
    size = body.get("size", 1)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ControlError(f"bad size {size!r}: a whole number of contracts, 1 or more")
    return size


class SimControl:
    """The routes; each handler's work is synchronous on the gateway except `play`."""

    def __init__(self, gw: SimGateway) -> None:
        self.gw = gw

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/sim/status", self._wrap(self.status)),
            web.post("/sim/order", self._wrap(self.order)),
            web.post("/sim/close", self._wrap(self.close)),
            web.post("/sim/cancel", self._wrap(self.cancel)),
            web.post("/sim/quote", self._wrap(self.quote)),
            web.post("/sim/play", self._wrap(self.play)),
        ]

    def _wrap(self, work: Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            if not _loopback(request):
                return web.json_response({"ok": False, "error": "loopback only"}, status=403)
            body: Any = {}
            if request.can_read_body:
                try:
                    body = await request.json()
                except ValueError:
                    return web.json_response({"ok": False, "error": "not JSON"}, status=400)
            if not isinstance(body, Mapping):
                return web.json_response({"ok": False, "error": "expected an object"}, status=400)
            try:
                answer = await work(body)
            except GatewayRejection as exc:
                return web.json_response({"ok": False, "error": exc.message}, status=400)
            except (ControlError, ScenarioError) as exc:
                return web.json_response({"ok": False, "error": str(exc)}, status=400)
            await self.gw.flush()
            return web.json_response({"ok": True, **answer})

        return handler

    async def status(self, _body: Mapping[str, Any]) -> dict[str, Any]:
        accounts = []
        for acc in self.gw.market.iter_accounts():
            positions = [
                {
                    "contract": self.gw.market.contracts[p.contract_id].symbol,
                    "size": p.size,
                    "average_price": str(p.average_price),
                }
                for p in self.gw.market.ledger.open_positions(acc.id)
            ]
            orders = [
                _order_json(o, self.gw)
                for o in self.gw.market.book.for_account(acc.id, open_only=True)
            ]
            accounts.append(
                {
                    "name": acc.name,
                    "balance": str(acc.balance),
                    "can_trade": acc.can_trade,
                    "positions": positions,
                    "orders": orders,
                }
            )
        quotes = {
            spec.symbol: str(self.gw.market.quotes[cid].last)
            for cid, spec in self.gw.market.contracts.items()
        }
        return {
            "now": self.gw.market.clock.now().isoformat(),
            "accounts": accounts,
            "quotes": quotes,
        }

    async def order(self, body: Mapping[str, Any]) -> dict[str, Any]:
        side = str(body.get("side", "")).lower()
        if side not in ("buy", "sell"):
            raise ControlError(f"bad side {side!r}: buy or sell")
        kind = str(body.get("type", "market")).lower()
        if kind not in ORDER_TYPES:
            raise ControlError(f"bad order type {kind!r}: market, limit or stop")
        order = self.gw.trader_place(
            str(body.get("contract", "")),
            side,
            kind,
            _size(body),
            limit_price=body.get("limit"),
            stop_price=body.get("stop"),
            account=body.get("account"),
        )
        return {"order": _order_json(order, self.gw)}

    async def close(self, body: Mapping[str, Any]) -> dict[str, Any]:
        size = _size(body) if body.get("size") is not None else None
        order = self.gw.trader_close(str(body.get("contract", "")), size, body.get("account"))
        return {"order": _order_json(order, self.gw)}

    async def cancel(self, body: Mapping[str, Any]) -> dict[str, Any]:
        order_id = body.get("order")
        if not isinstance(order_id, int):
            raise ControlError(f"bad order id {order_id!r}")
        self.gw.trader_cancel(order_id, body.get("account"))
        return {"cancelled": order_id}

    async def quote(self, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            quote = self.gw.set_quote(
                str(body.get("contract", "")),
                body.get("price"),
                bid=body.get("bid"),
                ask=body.get("ask"),
            )
        except (ArithmeticError, ValueError):
            raise ControlError(f"bad price in {dict(body)!r}") from None
        return {"last": str(quote.last), "bid": str(quote.bid), "ask": str(quote.ask)}

    async def play(self, body: Mapping[str, Any]) -> dict[str, Any]:
        steps = body.get("steps")
        if not isinstance(steps, list):
            raise ControlError("a script is a list of steps (docs/simgateway.md)")
        speed = body.get("speed", 1.0)
        if not isinstance(speed, int | float) or speed <= 0:
            raise ControlError(f"bad speed {speed!r}: a number > 0")
        player = ScriptPlayer(self.gw, float(speed))
        parsed = parse_script(steps)
        await _play_steps(player, parsed, float(speed))
        return {"steps": len(parsed), "errors": player.errors}


async def _play_steps(player: ScriptPlayer, steps: list[Any], speed: float) -> None:
    """The steps at their times from now, without resetting the running gateway's clock."""
    import asyncio
    import time

    start = time.monotonic()
    for step in steps:
        delay = start + step.at / speed - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await player.apply(step)
