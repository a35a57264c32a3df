"""The simulated ProjectX Gateway: one aiohttp server on 127.0.0.1 serving REST and both hubs.

`async with SimGateway() as gw:` starts it on an ephemeral port; gw.api_url,
gw.user_hub_url, gw.market_hub_url are what the SDK is configured with, and
the methods below drive the market and the faults from tests and the demo.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from rmdsl.broker.simgateway import faults as fl
from rmdsl.broker.simgateway.auth import TOKEN_LIFETIME_S, RateLimits, Tokens
from rmdsl.broker.simgateway.contracts import SimClock
from rmdsl.broker.simgateway.market import Market, OrderRequest, Push
from rmdsl.broker.simgateway.orders import (
    ERR_CLOSE_ACCOUNT_REJECTED,
    ERR_CLOSE_REJECTED,
    Quote,
    SimOrder,
    TagReuse,
)
from rmdsl.broker.simgateway.rest import RestApi
from rmdsl.broker.simgateway.signalr import HubConnection, HubServer
from rmdsl.broker.simgateway.wire import WireShaper, WireStyle
from rmdsl.contract.events import OrderStatus, OrderType, Side
from rmdsl.lifecycle import Service

DEFAULT_ACCOUNTS: tuple[tuple[str, Decimal], ...] = (("PRAC-SIM-1", Decimal("50000")),)
SHUTDOWN_TIMEOUT = 1.0
EXPIRY_CHECK_S = 0.05


@dataclass(frozen=True, slots=True)
class PushRecord:
    target: str
    arguments: tuple[Any, ...]
    sent_ns: int  # monotonic_ns when the gateway published it


def _enum_arg[E: (Side, OrderType)](kind: type[E], value: str | int) -> E:
    if isinstance(value, str):
        return kind[value.strip().upper()]
    return kind(value)


def _dec(value: Decimal | float | str | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class SimGateway(Service):
    """REST + SignalR ProjectX Gateway double with a matching model and fault injection."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        accounts: Iterable[tuple[str, Decimal]] = DEFAULT_ACCOUNTS,
        fees: Mapping[str, Decimal] | None = None,
        api_keys: dict[str, str] | None = None,
        clock: SimClock | None = None,
        token_lifetime_s: float = TOKEN_LIFETIME_S,
        close_hubs_at_expiry: bool = False,
        rate_limits: bool = True,
        shuffle_seed: int | None = None,
        tag_reuse: TagReuse | None = None,
        user_push_gap_s: float = 0.0,
        partial_fill_status: int = 1,
        wire: WireStyle | None = None,
        closes_when_cannot_trade: bool = True,
    ) -> None:
        """`shuffle_seed`: send the user events of each fill in a random order (reproducible);
        `tag_reuse`: the answer to a reused customTag; `user_push_gap_s`: a pause after each
        user-hub message, so a client handles one before the next; `partial_fill_status`: a
        partly filled order's status (1 OPEN, 6 PENDING...: unknown, docs/simgateway.md)."""
        self.host, self._port = host, port
        self.pushes: list[PushRecord] = []  # as sent on the wire (after the WireStyle)
        self.wire = WireShaper(wire)
        self.market = Market(
            self._publish,
            clock=clock,
            fees=fees,
            shuffle_seed=shuffle_seed,
            tag_reuse=tag_reuse,
            partial_status=OrderStatus(partial_fill_status),
        )
        # unknown whether the real gateway takes closes while canTrade is false: settable
        self.market.closes_when_cannot_trade = closes_when_cannot_trade
        for name, balance in accounts:
            self.market.add_account(name, balance)
        # whether the gateway ends an open hub connection when its token expires: no source
        self.close_hubs_at_expiry = close_hubs_at_expiry
        self.closed_at_expiry = 0  # hub connections it closed because their token expired
        self._serve(api_keys, token_lifetime_s, rate_limits, user_push_gap_s)
        self.extra_routes: list[web.RouteDef] = []  # `rmdsl sim`'s /sim/* control routes
        self._runner: web.AppRunner | None = None
        self._expiry_task: asyncio.Task[None] | None = None
        self._pushed = asyncio.Event()

    def _serve(
        self,
        api_keys: dict[str, str] | None,
        token_lifetime_s: float,
        rate_limits: bool,
        user_push_gap_s: float,
    ) -> None:
        """The REST API and the hubs, with the tokens, limits and faults they share."""
        self.faults = fl.FaultPlan()
        self.requests = fl.RequestLog()
        self.tokens = Tokens(token_lifetime_s)
        self.limits = RateLimits(enabled=rate_limits)  # benchmarks of other things turn it off
        self.frozen = fl.Freeze()
        self.hubs = HubServer(self.tokens.ok, self.frozen)
        self.hubs.user_gap_s = user_push_gap_s
        self.rest = RestApi(
            self.market, self.tokens, self.faults, self.requests, api_keys, self.frozen, self.limits
        )

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.add_routes(self.rest.routes() + self.hubs.routes() + self.extra_routes)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._expiry_task = asyncio.create_task(self._close_expired(), name="simgw-expiry")

    async def stop(self) -> None:
        if self._runner is None:
            return
        if self._expiry_task is not None:
            self._expiry_task.cancel()
            await asyncio.gather(self._expiry_task, return_exceptions=True)
            self._expiry_task = None
        await self.hubs.close_all()
        await self._runner.cleanup()
        self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    @property
    def user_hub_url(self) -> str:
        return f"{self.base_url}/hubs/user"

    @property
    def market_hub_url(self) -> str:
        return f"{self.base_url}/hubs/market"

    def sdk_env(
        self, username: str = "sim-user", api_key: str = "sim-api-key-0123456789"
    ) -> dict[str, str]:
        """The environment the SDK's ConfigManager reads to talk to this gateway."""
        return {
            "PROJECTX_API_URL": self.api_url,
            "PROJECTX_USER_HUB_URL": self.user_hub_url,
            "PROJECTX_MARKET_HUB_URL": self.market_hub_url,
            "PROJECTX_REQUESTS_PER_MINUTE": "6000",
            "PROJECT_X_API_KEY": api_key,
            "PROJECT_X_USERNAME": username,
        }

    # -- the market ---------------------------------------------------------

    @property
    def account_id(self) -> int:
        """The first account (the one the SDK selects without an account name)."""
        return next(self.market.iter_accounts()).id

    def _account(self, account: int | str | None) -> int:
        if account is None:
            return self.account_id
        for acc in self.market.iter_accounts():
            if account in (acc.id, acc.name):
                return acc.id
        raise KeyError(f"no account {account!r}")

    def add_account(self, name: str, balance: Decimal = Decimal("50000")) -> int:
        return self.market.add_account(name, balance).id

    def set_quote(
        self,
        contract: str,
        price: Decimal | float | str | None = None,
        *,
        bid: Decimal | float | str | None = None,
        ask: Decimal | float | str | None = None,
    ) -> Quote:
        return self.market.set_quote(contract, _dec(price), _dec(bid), _dec(ask))

    def set_can_trade(self, can_trade: bool, account: int | str | None = None) -> None:
        self.market.set_can_trade(self._account(account), can_trade)

    def trader_place(
        self,
        contract: str,
        side: str | int,
        type: str | int = "market",
        size: int = 1,
        *,
        limit_price: Decimal | float | str | None = None,
        stop_price: Decimal | float | str | None = None,
        trail_price: Decimal | float | str | None = None,
        account: int | str | None = None,
    ) -> SimOrder:
        """An order "from the broker's UI": same book, same pushes as an API order."""
        req = OrderRequest(
            account_id=self._account(account),
            contract_id=self.market.resolve_contract(contract).contract_id,
            type=_enum_arg(OrderType, type),
            side=_enum_arg(Side, side),
            size=size,
            limit_price=_dec(limit_price),
            stop_price=_dec(stop_price),
            trail_price=_dec(trail_price),
        )
        return self.market.place_order(req)

    def trader_cancel(self, order_id: int, account: int | str | None = None) -> None:
        self.market.cancel_order(self._account(account), order_id)

    def trader_close(
        self, contract: str, size: int | None = None, account: int | str | None = None
    ) -> SimOrder:
        return self.market.close_position(self._account(account), contract, size)

    def split_next_fill(self, *sizes: int) -> None:
        """The next order that fills does so in these partial fills (docs/simgateway.md)."""
        self.market.split_next_fill(sizes)

    def position_size(self, contract: str, account: int | str | None = None) -> int:
        """Signed net position (> 0 long) as the gateway holds it."""
        spec = self.market.resolve_contract(contract)
        return self.market.ledger.net_size(self._account(account), spec.contract_id)

    # -- faults ---------------------------------------------------------------

    def inject_error(
        self, path: str, code: int = 7, message: str = "Injected failure", count: int = 1
    ) -> None:
        self.faults.inject(path, fl.ErrorFault(code, message), count)

    def inject_status(self, path: str, status: int = 500, count: int = 1) -> None:
        self.faults.inject(path, fl.StatusFault(status), count)

    def inject_delay(self, path: str, seconds: float, count: int = 1) -> None:
        self.faults.inject(path, fl.DelayFault(seconds), count)

    def reject_close(self, count: int = 1, message: str = "Close rejected (injected)") -> None:
        """The account rejected: errorCode 8 on closeContract, 9 on partialCloseContract (not
        2: that is PositionNotFound, which rmdsl reads as "already flat")."""
        self.faults.inject(
            "/Position/closeContract", fl.ErrorFault(ERR_CLOSE_ACCOUNT_REJECTED, message), count
        )
        self.faults.inject(
            "/Position/partialCloseContract", fl.ErrorFault(ERR_CLOSE_REJECTED, message), count
        )

    def ignore_close(self, count: int = 1) -> None:
        """Answer the next closes with success and do nothing (the position stays open)."""
        for path in ("/Position/closeContract", "/Position/partialCloseContract"):
            self.faults.inject(path, fl.IgnoreFault(), count)

    async def drop_connections(self) -> int:
        return await self.hubs.drop_all()

    def freeze(self, seconds: float, *, lose_pushes: bool = True) -> None:
        """Stop answering anything (REST, hub messages, websocket pings) for `seconds`."""
        self.frozen.start(seconds, lose_pushes)

    async def gateway_logout(self, *, end_session: bool = True) -> None:
        """Send `GatewayLogout` on the user hub; with end_session, also revoke every token and
        close every hub connection (what the message means on the real gateway: no source)."""
        self.publish_raw("GatewayLogout", ["Session ended"])
        await self.flush()
        if end_session:
            self.tokens.revoke_all()
            await self.hubs.close_where(lambda conn: True)

    async def _close_expired(self) -> None:
        def expired(conn: HubConnection) -> bool:
            return not self.tokens.ok(conn.token)

        while True:
            await asyncio.sleep(EXPIRY_CHECK_S)
            if self.close_hubs_at_expiry:
                self.closed_at_expiry += await self.hubs.close_where(expired)

    # -- observation ------------------------------------------------------------

    def _publish(self, push: Push) -> None:
        push = self.wire.shape(push)
        self.pushes.append(PushRecord(push.target, push.arguments, time.monotonic_ns()))
        self._pushed.set()
        self.hubs.publish(push)

    def publish_raw(self, target: str, arguments: list[Any]) -> None:
        """Push a recorded payload as is (market targets to the market hub)."""
        hub = "market" if target in ("GatewayQuote", "GatewayTrade", "GatewayDepth") else "user"
        self.pushes.append(PushRecord(target, tuple(arguments), time.monotonic_ns()))
        self._pushed.set()
        self.hubs.publish_raw(hub, target, arguments)

    async def wait_for_push(
        self, target: str, *, count: int = 1, timeout: float = 5.0
    ) -> PushRecord:
        async with asyncio.timeout(timeout):
            while True:
                found = [p for p in self.pushes if p.target == target]
                if len(found) >= count:
                    return found[count - 1]
                self._pushed.clear()
                await self._pushed.wait()

    async def wait_for_subscription(self, hub: str, target: str, *, timeout: float = 5.0) -> None:
        """Until a client invoked `target` (e.g. SubscribeTrades) on `hub`."""
        async with asyncio.timeout(timeout):
            while not any(h == hub and t == target for h, t, _ in self.hubs.invocations):
                await asyncio.sleep(0.01)

    async def flush(self) -> None:
        await self.hubs.flush()
