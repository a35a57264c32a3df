"""SignalR JSON hub protocol over aiohttp websockets: negotiate, handshake, subscriptions, pushes.

Speaks what pysignalr (the SDK's hub client) speaks: POST <hub>/negotiate,
websocket ?access_token=..&id=.., `{"protocol":"json","version":1}` handshake,
record separator 0x1E, invocations (1), completions (3), pings (6), close (7).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from rmdsl.broker.simgateway.faults import Freeze
from rmdsl.broker.simgateway.market import Push

RS = "\x1e"
PING = json.dumps({"type": 6}) + RS
KEEPALIVE_SECONDS = 15.0
HANDSHAKE_TIMEOUT = 10.0

_log = logging.getLogger(__name__)

# Subscription name -> the push target it enables (the real hubs route per method).
_USER_TOPICS = {
    "Orders": "GatewayUserOrder",
    "Positions": "GatewayUserPosition",
    "Trades": "GatewayUserTrade",
}
_MARKET_TOPICS = {
    "ContractQuotes": "GatewayQuote",
    "ContractTrades": "GatewayTrade",
    "ContractMarketDepth": "GatewayDepth",
}


@dataclass(eq=False, slots=True)
class HubConnection:
    hub: str
    ws: web.WebSocketResponse
    token: str = ""
    accounts_all: bool = False
    topics: set[tuple[str, int | str]] = field(default_factory=set)  # (target, account|contract)
    invocations: list[tuple[str, list[Any]]] = field(default_factory=list)
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    gap_s: float = 0.0  # pause after each frame (a live gateway's messages come apart)

    def wants(self, push: Push) -> bool:
        if push.hub != self.hub:
            return False
        if push.target == "GatewayUserAccount":
            return self.accounts_all
        key = push.contract_id if self.hub == "market" else push.account_id
        return key is not None and (push.target, key) in self.topics


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":")) + RS


class HubServer:
    """Both hubs: the websocket handlers, the live connections and the push fan-out."""

    def __init__(self, token_ok: Callable[[str], bool], freeze: Freeze | None = None) -> None:
        self._token_ok = token_ok
        self.freeze = freeze or Freeze()
        self.connections: set[HubConnection] = set()
        self.invocations: list[tuple[str, str, list[Any]]] = []  # (hub, target, args)
        self.connected = asyncio.Event()
        self.user_gap_s = 0.0  # SimGateway(user_push_gap_s=): space the user hub's pushes

    def routes(self, prefix: str = "/hubs") -> list[web.RouteDef]:
        out = []
        for hub in ("user", "market"):
            out.append(web.post(f"{prefix}/{hub}/negotiate", self._negotiate))
            out.append(web.get(f"{prefix}/{hub}", self._make_ws_handler(hub)))
        return out

    async def _negotiate(self, request: web.Request) -> web.Response:
        if not self._token_ok(_token(request)):
            return web.json_response({"error": "Unauthorized"}, status=401)
        conn_id = uuid.uuid4().hex
        return web.json_response(
            {
                "negotiateVersion": 1,
                "connectionId": conn_id,
                "connectionToken": conn_id,
                "availableTransports": [
                    {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
                ],
            }
        )

    def _make_ws_handler(self, hub: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            if not self._token_ok(_token(request)):
                return web.json_response({"error": "Unauthorized"}, status=401)
            # pings answered by _serve (not aiohttp): a frozen gateway answers none
            ws = web.WebSocketResponse(heartbeat=None, autoping=False, max_msg_size=2**20)
            await ws.prepare(request)
            gap = self.user_gap_s if hub == "user" else 0.0
            conn = HubConnection(hub, ws, _token(request), gap_s=gap)
            try:
                if await self._handshake(ws):
                    self.connections.add(conn)
                    self.connected.set()
                    await self._serve(conn)
            finally:
                self.connections.discard(conn)
                await ws.close()
            return ws

        return handler

    async def _handshake(self, ws: web.WebSocketResponse) -> bool:
        try:
            msg = await ws.receive(timeout=HANDSHAKE_TIMEOUT)
        except TimeoutError:
            return False
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return False
        raw = msg.data if isinstance(msg.data, str) else msg.data.decode()
        try:
            request = json.loads(raw.split(RS, 1)[0])
        except ValueError:
            return False
        if request.get("protocol") != "json":
            await ws.send_str(
                encode({"error": f"Protocol {request.get('protocol')!r} not supported"})
            )
            return False
        await ws.send_str("{}" + RS)
        return True

    async def _serve(self, conn: HubConnection) -> None:
        keepalive = asyncio.create_task(self._keepalive(conn))
        writer = asyncio.create_task(_writer(conn, self.freeze))
        try:
            async for msg in conn.ws:
                await self.freeze.wait()
                if msg.type is WSMsgType.PING:
                    await conn.ws.pong(msg.data)
                    continue
                if msg.type is WSMsgType.PONG:
                    continue
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                raw = msg.data if isinstance(msg.data, str) else msg.data.decode()
                if not await self._on_frame(conn, raw):
                    break
        finally:
            for task in (keepalive, writer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            _discard_outbox(conn)

    async def _on_frame(self, conn: HubConnection, raw: str) -> bool:
        """Handle every message of one frame; False when the client closed."""
        for part in raw.split(RS):
            if not part:
                continue
            message = json.loads(part)
            kind = message.get("type")
            if kind == 7:
                return False
            if kind == 1:
                await self._on_invocation(conn, message)
        return True

    async def _on_invocation(self, conn: HubConnection, message: dict[str, Any]) -> None:
        target = str(message.get("target", ""))
        args = list(message.get("arguments") or [])
        conn.invocations.append((target, args))
        self.invocations.append((conn.hub, target, args))
        error = self._apply_subscription(conn, target, args)
        invocation_id = message.get("invocationId")
        if invocation_id is not None:
            reply: dict[str, Any] = {"type": 3, "invocationId": invocation_id}
            if error:
                reply["error"] = error
            conn.outbox.put_nowait(encode(reply))

    def _apply_subscription(self, conn: HubConnection, target: str, args: list[Any]) -> str | None:
        subscribe = not target.startswith("Unsubscribe")
        name = target.removeprefix("Unsubscribe").removeprefix("Subscribe")
        if target == "Heartbeat":  # the SDK's health monitor invokes it; nothing to do
            return None
        topics = _USER_TOPICS if conn.hub == "user" else _MARKET_TOPICS
        if conn.hub == "user" and name == "Accounts":
            conn.accounts_all = subscribe
        elif name in topics and args:
            key = int(args[0]) if conn.hub == "user" else str(args[0])
            _toggle(conn.topics, (topics[name], key), subscribe)
        else:
            return f"Unknown hub method {target!r}"
        return None

    async def _keepalive(self, conn: HubConnection) -> None:
        while not conn.ws.closed:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            conn.outbox.put_nowait(PING)

    # -- pushes ---------------------------------------------------------

    def publish(self, push: Push) -> None:
        """Queue one invocation to every connection subscribed to it (non-blocking)."""
        if self.freeze.frozen and self.freeze.lose_pushes:
            return  # a frozen gateway that lost its connections' state: never delivered
        frame = encode({"type": 1, "target": push.target, "arguments": list(push.arguments)})
        for conn in list(self.connections):
            if conn.wants(push):
                conn.outbox.put_nowait(frame)

    def publish_raw(self, hub: str, target: str, arguments: list[Any]) -> None:
        """Send as is to every connection of a hub, whatever it subscribed to."""
        frame = encode({"type": 1, "target": target, "arguments": arguments})
        for conn in list(self.connections):
            if conn.hub == hub:
                conn.outbox.put_nowait(frame)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued push has been written to its socket."""
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(c.outbox.join() for c in list(self.connections)))

    async def drop_all(self, code: int = 1011) -> int:
        """Close every websocket abruptly (the SDK should reconnect); returns how many."""
        conns = list(self.connections)
        self.connections.clear()
        self.connected.clear()
        for conn in conns:
            await conn.ws.close(code=code, message=b"dropped by simgateway")
        return len(conns)

    async def close_where(self, match: Callable[[HubConnection], bool], code: int = 1008) -> int:
        """Close the connections `match` picks (e.g. those whose token expired)."""
        conns = [c for c in self.connections if match(c)]
        for conn in conns:
            self.connections.discard(conn)
            await conn.ws.close(code=code, message=b"session ended")
        if not self.connections:
            self.connected.clear()
        return len(conns)

    async def close_all(self) -> None:
        """Shutdown: flush, send a Close message, then close every socket."""
        with contextlib.suppress(TimeoutError):
            await self.flush(timeout=1.0)
        for conn in list(self.connections):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.send_str(encode({"type": 7}))
        await self.drop_all(code=1001)


async def _writer(conn: HubConnection, freeze: Freeze) -> None:
    """The one task writing to a socket, so pushes keep their order."""
    while True:
        frame = await conn.outbox.get()
        try:
            await freeze.wait()
            if not conn.ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await conn.ws.send_str(frame)
            if conn.gap_s:
                await asyncio.sleep(conn.gap_s)
        finally:
            conn.outbox.task_done()


def _discard_outbox(conn: HubConnection) -> None:
    while not conn.outbox.empty():
        conn.outbox.get_nowait()
        conn.outbox.task_done()


def _toggle(values: set[Any], value: Any, add: bool) -> None:
    if add:
        values.add(value)
    else:
        values.discard(value)


def _token(request: web.Request) -> str:
    token = request.query.get("access_token", "")
    if not token:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return token
