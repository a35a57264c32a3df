"""The SDK's hub internals the realtime session reaches into (project-x-py 4.4.1 ->
pysignalr -> websockets): the user hub's websocket for the stale-connection probe, and the
hub-ready flags a token renewal must clear (rmdsl.broker.projectx_live uses both).
"""

from __future__ import annotations

import asyncio
from typing import Any


def user_websocket(rt: Any) -> Any:
    """The user hub's open websocket (SDK AsyncHubConnection -> pysignalr -> websockets),
    or None (not connected, or an SDK without these internals: then no probe)."""
    client = getattr(rt.user_connection, "_client", None)
    transport = getattr(client, "_transport", None)
    ws = getattr(transport, "_ws", None)
    return ws if callable(getattr(ws, "ping", None)) else None


async def ping(ws: Any) -> None:
    """Until the pong (raises when the socket closes: the close is reported elsewhere)."""
    await (await ws.ping())


def retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # a ping failed by a close: reported elsewhere


def forget_open_hubs(rt: Any) -> None:
    """Clear the SDK's hub-ready flags before update_jwt_token while the hubs are still up.

    Its disconnect() stops the hubs without clearing them, so its connect() finds them
    still set from the old hubs, does not wait for the new ones to open, sees them not
    yet connected, and rolls back to the old token (project-x-py 4.4.1).
    """
    for name in ("user_hub_ready", "market_hub_ready"):
        ready = getattr(rt, name, None)
        if isinstance(ready, asyncio.Event):
            ready.clear()
