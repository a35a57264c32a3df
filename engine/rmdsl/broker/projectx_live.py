"""The ProjectX realtime session: SDK hub callbacks -> engine events, hub state -> ConnectionEvents.

Owns the SDK's ProjectXRealtimeClient for one account: registers one plain
(synchronous) callback per user-hub message kind, so `received_ns` is taken
the moment the SDK hands the payload over and nothing awaits inside the
SDK's dispatch; follows the quotes of contracts with exposure; turns hub
close/open into DISCONNECTED/CONNECTED, and reconnects itself with backoff
when the SDK's own websocket reconnection does not bring the user hub back.

A frozen or stale connection reports nothing by itself (the socket stays
open; the websocket keepalive gives up only after ~30 s), and the SDK's health
reconnect stops the hub without a close callback: so the watchdog pings the
user hub's websocket, calls it down when no pong comes within
`stale_after_s`, and up again (CONNECTED, hence a reconcile) when one does;
a reopen we never saw close is a reconnect too.

Days-long sessions: before the hubs' token expires, and on GatewayLogout, it
reconnects them with a new token (projectx_session); the CONNECTED that
follows makes the engine reconcile what the gap may have lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from rmdsl.broker.decode.fields import PayloadError
from rmdsl.broker.decode.partial import GatewayDecoder
from rmdsl.broker.projectx_hub import forget_open_hubs, ping, retrieve, user_websocket
from rmdsl.broker.projectx_routes import Routes, subscribe
from rmdsl.broker.projectx_session import RENEW_BEFORE_S, expires_within, fresh_token
from rmdsl.broker.projectx_stream import Deduper, Handoff, model_payload
from rmdsl.contract.events import (
    ConnectionEvent,
    ConnectionState,
)
from rmdsl.errors import BrokerError

log = logging.getLogger("rmdsl.broker.projectx")

# SDK realtime callback name -> the gateway target whose payload it carries
USER_CALLBACKS = {
    "trade_execution": "GatewayUserTrade",
    "position_update": "GatewayUserPosition",
    "order_update": "GatewayUserOrder",
    "account_update": "GatewayUserAccount",
}
MAX_BACKOFF_S = 60.0
STALE_AFTER_S = 5.0


class LiveFeed:
    """The realtime stream of the login's accounts over an SDK suite (`.client`, `.realtime`):
    `account_id` is the SDK realtime client's own; add_account() puts more on the connection."""

    def __init__(
        self,
        suite: Any,
        account_id: int,
        handoff: Handoff | None,
        *,
        reconnect_after_s: float = 10.0,
        reconnect_timeout_s: float = 30.0,
        watch_interval_s: float = 0.5,
        stale_after_s: float = STALE_AFTER_S,
        renew_before_s: float = RENEW_BEFORE_S,
        clock: Callable[[], float] = time.monotonic,
        tap: Callable[[str, Any], None] | None = None,
    ) -> None:
        self._suite = suite
        self._tap = tap  # `rmdsl run --record`: each message of the account, as received
        self._rt = suite.realtime
        self._account_id = account_id
        # each account's events to its own handoff; quotes to the accounts exposed in them
        self.routes = Routes(on_contract=self.watch_quotes)
        if handoff is not None:  # None: the account's route comes with add_account()
            self.routes.add(account_id, handoff)
        self._reconnect_after_s = reconnect_after_s
        self._reconnect_timeout_s = reconnect_timeout_s
        self._watch_interval_s = watch_interval_s
        self._stale_after_s = stale_after_s
        self._renew_before_s = renew_before_s
        self._relogin = False  # a GatewayLogout came: a new token and new hubs at the next tick
        self._clock = clock
        self._probe: tuple[float, asyncio.Future[Any]] | None = None  # (sent at, pong waiter)
        self.deduper = Deduper()
        # completes partial updates from the last known state (docs/broker.md)
        self.decoder = GatewayDecoder(account_id)
        self.up = False
        self.reconnects = 0
        self._down_since: float | None = None
        self._next_attempt = 0.0
        self._backoff_s = 1.0
        self._restoring = False
        self._hooked: dict[str, object] = {}
        self._quotes: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Register callbacks, connect both hubs, subscribe to the account; raises BrokerError."""
        for name, target in USER_CALLBACKS.items():
            await self._rt.add_callback(name, self._user_callback(target))
        await self._rt.add_callback("quote_update", self._on_quote)
        # The SDK reconnects BOTH hubs whenever the market hub is silent for 30 s,
        # which is always the case while the account is flat (no quote
        # subscriptions): that would drop the user hub every 30 s.
        self._rt.stale_feed_seconds = math.inf
        if not await self._rt.connect():
            hubs = f"{self._rt.user_hub_url}, {self._rt.market_hub_url}"
            raise BrokerError(f"realtime hubs did not connect ({hubs})")
        if not await self._subscribe_all():
            raise BrokerError("could not subscribe to the account's realtime updates")
        self._hook_hubs()
        self.up = True
        self._watcher = asyncio.create_task(self._watch(), name="rmdsl-projectx-watch")

    async def stop(self) -> None:
        self.up = False  # our own hangup is not a disconnect to reconcile
        probe = self._probe[1] if self._probe is not None else None
        tasks = [t for t in (self._watcher, probe, *self._tasks) if t is not None]
        self._watcher = self._probe = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.routes.close()
        await self._rt.cleanup()

    # -- messages --------------------------------------------------------

    def _user_callback(self, target: str) -> Callable[[Any], None]:
        def on_message(payload: Any) -> None:
            received_ns = time.monotonic_ns()
            self._accept(target, payload, received_ns)

        on_message.__name__ = f"rmdsl_{target}"
        return on_message

    def _on_quote(self, data: Any) -> None:
        received_ns = time.monotonic_ns()
        payload = data
        if isinstance(data, Mapping) and isinstance(data.get("contract_id"), str):
            payload = (data["contract_id"], data.get("data"))
        self._accept("GatewayQuote", payload, received_ns)

    def _accept(self, target: str, payload: Any, received_ns: int) -> None:
        try:
            # a fill without a timestamp is still a fill: stamp it with our clock
            now = dt.datetime.now(dt.UTC)
            event = self.decoder.decode(target, payload, now, received_ns)
        except PayloadError as exc:
            log.warning("dropped a malformed %s message: %s", target, exc)
            return
        if target != "GatewayQuote" and self.routes.account_of(event) is None:
            self.routes.unrouted += 1  # SubscribeAccounts streams every account of the login
            return
        if not self.deduper.is_new(event):
            return
        if self._tap is not None:
            self._tap(target, payload)
        self.routes.deliver(event)

    def remember(self, target: str, models: Any) -> None:
        """REST objects (the snapshot) are the last known state partial updates complete from."""
        for model in models:
            self.decoder.remember(target, model_payload(model))

    # -- accounts on this connection ------------------------------------------

    async def add_account(self, account_id: int, handoff: Handoff) -> None:
        """Route the account's events to `handoff` and subscribe it on the user hub."""
        self.routes.add(account_id, handoff)
        if len(self.routes.accounts) > 1:  # an update without accountId is nobody's now
            self.decoder.default_account = 0
        if account_id != self._account_id:  # the SDK's own account is subscribed by the SDK
            await subscribe(self._rt, [account_id])

    async def remove_account(self, account_id: int) -> None:
        """Stop routing the account; unsubscribe it (the SDK's own account stays subscribed)."""
        self.routes.remove(account_id)
        if account_id != self._account_id:
            await subscribe(self._rt, [account_id], on=False)

    async def _subscribe_all(self) -> bool:
        """The SDK subscribes its account (and SubscribeAccounts); the others are ours."""
        if not await self._rt.subscribe_user_updates():
            return False
        await subscribe(self._rt, [a for a in self.routes.accounts if a != self._account_id])
        return True

    # -- quotes ------------------------------------------------------------

    def watch_quotes(self, contract_id: str) -> None:
        """Subscribe the contract's quotes once (quotes only: depth and tape are not needed),
        and keep them (routes hand a new follower the latest); they reach its followers."""
        if contract_id not in self._quotes:
            self._quotes.add(contract_id)
            self._spawn(self._subscribe_quotes([contract_id]))

    async def _subscribe_quotes(self, contract_ids: list[str]) -> None:
        connection = self._rt.market_connection
        for contract_id in contract_ids:
            try:
                await connection.send("SubscribeContractQuotes", [contract_id])
            except Exception as exc:  # retried when the market hub next opens
                log.warning("quote subscription for %s failed: %s", contract_id, exc)

    # -- connection state ----------------------------------------------------

    def _hook_hubs(self) -> None:
        """(Re)attach our open/close handlers; the SDK builds new hub objects on a token refresh."""
        user, market = self._rt.user_connection, self._rt.market_connection
        if user is not None and self._hooked.get("user") is not user:
            user.on_close(self._on_user_close)
            user.on_open(self._on_user_open)
            user.on("GatewayLogout", self._on_logout)
            self._hooked["user"] = user
        if market is not None and self._hooked.get("market") is not market:
            market.on_open(self._on_market_open)
            self._hooked["market"] = market

    def _on_user_close(self) -> None:
        self._mark_down("user hub closed")

    def _on_logout(self, *args: Any) -> None:
        """The SDK only logs GatewayLogout; the session may be over: log in again, reconnect."""
        self._relogin = True
        self._mark_down(f"GatewayLogout {args!r}")

    def _on_user_open(self) -> None:
        if self.up:
            # the hub reopened without a close we saw: the SDK's health reconnect (after a
            # stale or frozen connection) stops the hub without a close callback, and
            # whatever the gateway sent meanwhile is lost: a reconnect like any other
            self._mark_down("user hub reopened (a reconnect whose close was not reported)")
        if not self._restoring:
            self._restoring = True
            self._spawn(self._restore())

    def _on_market_open(self) -> None:
        if self._quotes:
            self._spawn(self._subscribe_quotes(sorted(self._quotes)))

    async def _restore(self) -> None:
        """Subscribe again BEFORE announcing CONNECTED: the engine's REST reconcile comes after."""
        try:
            if await self._subscribe_all():
                self._mark_up()
            else:
                log.warning("user hub reopened but the resubscription failed")
        finally:
            self._restoring = False

    def _mark_down(self, why: str) -> None:
        if self.up:
            self.up = False
            self._down_since = self._clock()
            log.warning("ProjectX realtime disconnected: %s", why)
            self._emit(ConnectionState.DISCONNECTED)

    def _mark_up(self) -> None:
        if not self.up:
            self.deduper.forget_states()  # the reconcile after CONNECTED resets the engine
            self.up = True
            self._down_since = None
            self._backoff_s = 1.0
            log.info("ProjectX realtime connected again")
            self._emit(ConnectionState.CONNECTED)

    def _emit(self, state: ConnectionState) -> None:
        self.routes.broadcast(ConnectionEvent(state, dt.datetime.now(dt.UTC)))

    async def _subscribe_others(self) -> None:
        """After update_jwt_token (which resubscribes the SDK's own account only)."""
        try:
            await subscribe(self._rt, [a for a in self.routes.accounts if a != self._account_id])
        except Exception as exc:  # the next drop's restore subscribes them again
            log.warning("resubscribing the other accounts failed: %s", exc)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._watch_interval_s)
            try:
                await self.tick()
            except Exception:
                log.exception("realtime watchdog failed; continuing")

    async def tick(self) -> None:
        """One watchdog pass: rehook, notice a silent drop or a stale hub, restore or
        reconnect when due."""
        self._hook_hubs()
        if self.up and not self._rt.user_connected:
            self._mark_down("user hub flag dropped")
        if (self._relogin and self._clock() >= self._next_attempt) or self._token_due():
            await self._reconnect(renew=True)
            return
        stale = await self._check_probe()
        if self.up or self._restoring or stale:
            return
        if self._rt.user_connected:
            self._restoring = True
            await self._restore()
        elif self._reconnect_due():
            await self._reconnect()

    async def _check_probe(self) -> bool:
        """Ping the user hub; True while a ping is unanswered past `stale_after_s`.

        The first such tick marks the feed down; the pong that finally comes (the
        gateway thawed) lets the next tick restore it, which announces CONNECTED.
        """
        probe = self._probe
        if probe is not None:
            sent, pong = probe
            if pong.done():
                self._probe = None
                return False
            if self._clock() - sent < self._stale_after_s:
                return False
            self._mark_down(f"no answer from the user hub for {self._stale_after_s:g} s")
            return True
        ws = user_websocket(self._rt)
        if ws is None or not self.up:
            return False
        # a task: sending the ping may itself wait (a full socket buffer), the tick never does
        pong = asyncio.get_running_loop().create_task(ping(ws), name="rmdsl-hub-probe")
        pong.add_done_callback(retrieve)
        self._probe = (self._clock(), pong)
        return False

    def _reconnect_due(self) -> bool:
        now = self._clock()
        if now < self._next_attempt:
            return False
        # with its token expired the SDK's own reconnect cannot succeed: no use waiting
        down_for = now - (self._down_since if self._down_since is not None else now)
        return down_for >= self._reconnect_after_s or expires_within(self._rt.jwt_token, 0.0)

    def _token_due(self) -> bool:
        """The hubs' token expires within renew_before_s (and no renewal is backing off)."""
        token = getattr(self._rt, "jwt_token", "")
        return (
            self.up
            and self._clock() >= self._next_attempt
            and isinstance(token, str)
            and expires_within(token, self._renew_before_s)
        )

    async def _reconnect(self, renew: bool = False) -> None:
        """Fresh token, new hub connections (the SDK resubscribes the account), quotes again.

        `renew`: the hubs may still be up (a token about to expire, a GatewayLogout): they
        are called down only once a new token is in hand, as the SDK closes them to reconnect.
        """
        self.reconnects += 1
        relogin, self._relogin = self._relogin, False
        client = self._suite.client
        try:
            async with asyncio.timeout(self._reconnect_timeout_s):
                if renew and not relogin:
                    token = await fresh_token(client, self._renew_before_s)
                else:
                    await client.authenticate()
                    token = str(client.get_session_token())
                self._mark_down("renewing the session token" if renew else "reconnecting")
                forget_open_hubs(self._rt)
                ok = bool(await self._rt.update_jwt_token(token))
        except Exception as exc:
            log.warning("ProjectX reconnect attempt failed: %s", exc)
            ok = False
        self._relogin = relogin and not ok
        if not ok:
            self._next_attempt = self._clock() + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, MAX_BACKOFF_S)
            return
        self._hook_hubs()
        await self._subscribe_others()
        await self._subscribe_quotes(sorted(self._quotes))
        self._mark_up()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
