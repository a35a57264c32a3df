"""TopstepX (ProjectX Gateway) broker over project-x-py 4.4.1: Broker calls -> SDK calls.

The only modules that touch the SDK are this one's siblings projectx_sdk
(the real objects, imported lazily) and, through the injected suite,
projectx_live (realtime). Every SDK exception, `success: false` answer or
timeout leaves this module as rmdsl.errors.BrokerError (docs/broker.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from rmdsl.broker import projectx_rate as rate
from rmdsl.broker.decode.fields import PayloadError
from rmdsl.broker.projectx_calls import as_float, bounded, check_answer, gather_all
from rmdsl.broker.projectx_contracts import Contracts
from rmdsl.broker.projectx_live import LiveFeed
from rmdsl.broker.projectx_session import RENEW_BEFORE_S
from rmdsl.broker.projectx_settings import (
    DayStart,
    ProjectXSettings,
    SdkFactory,
    default_day_start,
)
from rmdsl.broker.projectx_stream import Handoff, event_from_model
from rmdsl.contract.broker import ContractInfo, EventSink, OrderChange, OrderRequest, Snapshot
from rmdsl.contract.events import (
    AccountEvent,
    Event,
    OrderEvent,
    PositionEvent,
    TradeEvent,
)
from rmdsl.errors import BrokerError

log = logging.getLogger("rmdsl.broker.projectx")

# /Trade/search answers are cut to `limit` by the SDK: ask for far more than a day holds
MAX_TRADES = 100_000
CLOSE_CONTRACT = "/Position/closeContract"
PARTIAL_CLOSE_CONTRACT = "/Position/partialCloseContract"
MODIFY_ORDER = "/Order/modify"


def default_sdk() -> SdkFactory:
    """The real SDK, imported only now: tests on the mock never pay its ~74 MB."""
    from rmdsl.broker.projectx_sdk import ProjectXSdk

    return ProjectXSdk()


class ProjectXBroker:
    """The Broker protocol for one TopstepX account, chosen by name, across all its instruments."""

    # a snapshot's requests: the account list, open positions, open orders, the day's trades
    snapshot_reads = 4

    def __init__(
        self,
        account_name: str,
        *,
        api_key: str | None = None,
        username: str | None = None,
        api_url: str | None = None,
        user_hub_url: str | None = None,
        market_hub_url: str | None = None,
        call_timeout_s: float = 5.0,
        connect_timeout_s: float = 30.0,
        reconnect_after_s: float = 10.0,
        watch_interval_s: float = 0.5,
        stale_after_s: float = 5.0,
        renew_token_before_s: float = RENEW_BEFORE_S,
        budget: rate.Budget | None = None,
        day_start: DayStart | None = None,
        sdk: SdkFactory | None = None,
        tap: Callable[[str, Any], None] | None = None,
    ) -> None:
        """`tap(target, payload)`: every realtime message of the account (`--record`)."""
        self.account_name = account_name
        self._tap = tap
        self._credentials = (api_key, username)
        self._urls = (api_url, user_hub_url, market_hub_url)
        self._call_timeout_s = call_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._reconnect_after_s = reconnect_after_s
        self._watch_interval_s = watch_interval_s
        self._stale_after_s = stale_after_s
        # the start of the trading day whose trades a snapshot reads: given here, else the
        # ruleset's (follow_calendar), else the default 17:00 America/Chicago
        self._day_start = day_start or default_day_start
        self._day_start_given = day_start is not None
        self._renew_token_before_s = renew_token_before_s
        self.gate = rate.PriorityGate(budget or rate.Budget())
        self._sdk = sdk
        self._client: Any = None
        self._suite: Any = None
        self._account: Any = None
        self._handoff: Handoff | None = None
        self.live: LiveFeed | None = None
        self.contracts = Contracts()

    def follow_calendar(self, day_start: DayStart) -> None:
        """Read the trades of the ruleset's own trading day (its reset time and timezone).

        The daemon calls this with its calendar, so the trade search at start and after a
        reconnect covers every fill of the day its rules count; a day_start given to the
        constructor (the simulated account's virtual clock) wins.
        """
        if not self._day_start_given:
            self._day_start = day_start

    @property
    def account_id(self) -> int:
        if self._account is None:
            raise BrokerError("not connected to ProjectX")
        return int(self._account.id)

    # -- lifecycle -------------------------------------------------------

    async def connect(self, sink: EventSink) -> None:
        if self._client is not None:
            raise BrokerError("already connected to ProjectX")
        settings = self.settings()
        sdk = self.sdk_factory()
        self._client = await self._call("login", sdk.login(settings), self._connect_timeout_s)
        rate.install(self._client, self.gate)
        try:
            self._account = await self._select_account(self._client)
            self._suite = await self._call("open the SDK suite", sdk.open_suite(self._client))
            self._handoff = Handoff(sink)
            self._handoff.start()
            self.live = self.live_feed(self._suite, self.account_id, self._handoff)
            await self._call("connect realtime", self.live.start(), self._connect_timeout_s)
        except BaseException:
            await self.disconnect()
            raise
        log.info("connected to ProjectX account %s (%d)", self._account.name, self.account_id)

    def settings(self) -> ProjectXSettings:
        return ProjectXSettings.resolve(*self._credentials, self._urls)

    def sdk_factory(self) -> SdkFactory:
        if self._sdk is None:
            self._sdk = default_sdk()
        return self._sdk

    def live_feed(self, suite: Any, account_id: int, handoff: Handoff | None) -> LiveFeed:
        """The realtime feed with this adapter's watchdog bounds (a login shares one)."""
        return LiveFeed(
            suite,
            account_id,
            handoff,
            reconnect_after_s=self._reconnect_after_s,
            reconnect_timeout_s=self._connect_timeout_s,
            watch_interval_s=self._watch_interval_s,
            stale_after_s=self._stale_after_s,
            renew_before_s=self._renew_token_before_s,
            tap=self._tap,
        )

    async def disconnect(self) -> None:
        live, handoff, client = self.live, self._handoff, self._client
        self.live, self._handoff, self._client, self._suite = None, None, None, None
        self._account = None
        if live is not None:
            await self._quietly("stop realtime", live.stop())
        if handoff is not None:
            await handoff.close()
        if client is not None and self._sdk is not None:
            await self._quietly("log out", self._sdk.logout(client))

    async def flush(self) -> None:
        """Wait until every event received so far has been handed to the sink."""
        if self._handoff is not None:
            await self._handoff.drain()

    async def _select_account(self, client: Any) -> Any:
        accounts = await self._call("list accounts", client.list_accounts())
        wanted = self.account_name.strip().upper()
        for account in accounts:
            if str(account.name).upper() == wanted:
                # a token refresh re-authenticates: it must select this account again
                client.account_name = account.name
                client.account_info = account
                return account
        names = ", ".join(sorted(str(a.name) for a in accounts)) or "none"
        raise BrokerError(
            f"ProjectX account {self.account_name!r} not found; available accounts: {names}"
        )

    # -- state -----------------------------------------------------------

    @asynccontextmanager
    async def snapshot_turn(self) -> AsyncIterator[None]:
        """Wait for the snapshot's turn in the request budget, then run the block (which
        takes the snapshot) with its reads' slots reserved: the daemon keeps enforcing the
        account's events during the wait and pauses them for the reads only."""
        async with self.gate.reserved(self.snapshot_reads, rate.BULK, self.account_name):
            yield

    async def snapshot(self) -> Snapshot:
        """Account, open positions, ALL open orders and the trading day's trades, over REST."""
        suite = self._require()
        since = self._day_start(dt.datetime.now(dt.UTC))
        account, positions, orders, trades = await gather_all(
            self._fetch_account(),
            self._events(
                "open positions",
                lambda: suite.client.search_open_positions(account_id=self.account_id),
                "Position",
            ),
            self._events(
                "open orders",
                lambda: suite.orders.search_open_orders(account_id=self.account_id),
                "Order",
            ),
            self.trades_since(since),
        )
        live_positions = tuple(p for p in positions if isinstance(p, PositionEvent) and p.size)
        open_orders = tuple(o for o in orders if isinstance(o, OrderEvent))
        exposed = {p.contract_id for p in live_positions}
        exposed |= {o.contract_id for o in open_orders if o.working}
        if self.live is not None:  # the account follows the quotes of these contracts
            self.live.routes.expose(self.account_id, (*live_positions, *open_orders))
        ids = exposed | {o.contract_id for o in open_orders} | {t.contract_id for t in trades}
        return Snapshot(
            account=account,
            positions=live_positions,
            open_orders=open_orders,
            trades_today=trades,
            contracts=await self._contracts_for(sorted(ids)),
        )

    async def trades_since(self, since: dt.datetime) -> tuple[TradeEvent, ...]:
        """Fills from `since` to now (/Trade/search), oldest first."""
        client = self._require().client
        found = await self._read(
            "trade search",
            lambda: client.search_trades(
                start_date=since,
                end_date=dt.datetime.now(dt.UTC),  # when it is sent, after its turn
                limit=MAX_TRADES,
                account_id=self.account_id,
            ),
        )
        events = self._map("trades", found, "Trade")
        trades = (e for e in events if isinstance(e, TradeEvent))
        return tuple(sorted(trades, key=lambda t: (t.ts, t.id)))

    async def contract_info(self, contract_id: str) -> ContractInfo:
        """Tick size and value, looked up once (a login's accounts share the lookups)."""
        return await self.contracts.get(contract_id, self._instrument)

    async def _instrument(self, contract_id: str) -> Any:
        client = self._require().client
        what = f"contract {contract_id}"
        return await self._read(what, lambda: client.get_instrument(contract_id), rate.NORMAL)

    async def _contracts_for(self, contract_ids: list[str]) -> tuple[ContractInfo, ...]:
        found = await asyncio.gather(
            *(self.contract_info(c) for c in contract_ids), return_exceptions=True
        )
        infos: list[ContractInfo] = []
        for contract_id, info in zip(contract_ids, found, strict=True):
            if isinstance(info, ContractInfo):
                infos.append(info)
            elif isinstance(info, Exception):  # the snapshot is still good without it
                log.warning("no contract info for %s: %s", contract_id, info)
            else:
                raise info
        return tuple(infos)

    async def _fetch_account(self) -> AccountEvent:
        suite = self._require()
        accounts = await self._read("account search", suite.client.list_accounts, rate.NORMAL)
        for account in accounts:
            if int(account.id) == self.account_id:
                event = self._map("account", [account], "Account")[0]
                assert isinstance(event, AccountEvent)
                return event
        raise BrokerError(f"ProjectX account {self.account_name!r} is no longer listed as active")

    async def _events(
        self, what: str, call: Callable[[], Awaitable[Any]], kind: str
    ) -> tuple[Event, ...]:
        return self._map(what, await self._read(what, call), kind)

    def _map(self, what: str, models: Any, kind: str) -> tuple[Event, ...]:
        now = dt.datetime.now(dt.UTC)
        try:
            events = tuple(event_from_model(f"GatewayUser{kind}", m, now) for m in models)
            if self.live is not None:  # partial live updates complete from these from now on
                self.live.remember(f"GatewayUser{kind}", models)
            return events
        except (PayloadError, TypeError) as exc:
            raise BrokerError(f"{what}: unexpected data from the SDK: {exc}") from exc

    # -- enforcement -----------------------------------------------------

    async def close_position(self, contract_id: str) -> None:
        what = f"close position {contract_id}"
        payload = {"accountId": self.account_id, "contractId": contract_id}
        check_answer(what, await self._post(what, CLOSE_CONTRACT, payload))

    async def partial_close(self, contract_id: str, size: int) -> None:
        what = f"partial close {contract_id} by {size}"
        if size <= 0:
            raise BrokerError(f"{what}: size must be positive")
        payload = {"accountId": self.account_id, "contractId": contract_id, "size": size}
        check_answer(what, await self._post(what, PARTIAL_CLOSE_CONTRACT, payload))

    async def cancel_order(self, order_id: int) -> None:
        what = f"cancel order {order_id}"
        orders = self._require().orders
        if not await self._urgent(what, orders.cancel_order(order_id, account_id=self.account_id)):
            log.info("%s: already filled, expired or rejected, nothing to cancel", what)

    async def place_order(self, request: OrderRequest) -> int:
        what = f"place {request.type.word} {request.side.word} {request.size} {request.contract_id}"
        answer = await self._urgent(
            what,
            self._require().orders.place_order(
                contract_id=request.contract_id,
                order_type=int(request.type),
                side=int(request.side),
                size=request.size,
                limit_price=as_float(request.limit_price),
                stop_price=as_float(request.stop_price),
                trail_price=as_float(request.trail_price),
                custom_tag=request.custom_tag,
                account_id=self.account_id,
            ),
        )
        order_id = getattr(answer, "orderId", None)
        if not isinstance(order_id, int) or isinstance(order_id, bool) or order_id <= 0:
            raise BrokerError(f"{what}: no order id in the answer {answer!r}")
        return order_id

    async def modify_order(self, order_id: int, change: OrderChange) -> None:
        what = f"modify order {order_id}"
        orders = self._require().orders
        done = await self._urgent(
            what,
            orders.modify_order(
                order_id,
                limit_price=as_float(change.limit_price),
                stop_price=as_float(change.stop_price),
                size=change.size,
            ),
        )
        if done is False:
            raise BrokerError(f"{what}: the SDK reported failure")

    # -- plumbing --------------------------------------------------------

    async def _quietly(self, what: str, call: Awaitable[None]) -> None:
        """Shutdown steps: bounded, and a failure is logged, never raised."""
        try:
            await self._call(what, call, self._connect_timeout_s)
        except BrokerError as exc:
            log.warning("disconnect: %s", exc)

    async def _post(self, what: str, endpoint: str, payload: dict[str, Any]) -> Any:
        """An enforcement POST through the SDK client's own authenticated request (token,
        rate limit, no retry of a mutating endpoint), first in the request budget: the
        position manager's wrappers would sleep 0.1 s and re-read the positions after each
        close (docs/broker.md, "Calls")."""
        client = self._require().client
        return await self._urgent(what, client._make_request("POST", endpoint, data=payload))

    def _require(self) -> Any:
        if self._suite is None:
            raise BrokerError("not connected to ProjectX")
        return self._suite

    async def _urgent[T](self, what: str, call: Awaitable[T]) -> T:
        """An enforcement call: first in the request budget (projectx_rate)."""
        return await rate.enforcement(self.gate, what, self._call(what, call))

    async def _read[T](
        self, what: str, call: Callable[[], Awaitable[T]], priority: int = rate.BULK
    ) -> T:
        """A read (a reconcile's, by default: BULK): it waits for its turn in the request
        budget first, and only then is the SDK call made and timed (no timeout in the queue)."""
        async with self.gate.admitted(priority, self.account_name):
            return await self._call(what, call())

    async def _call[T](self, what: str, call: Awaitable[T], timeout_s: float | None = None) -> T:
        """Await one SDK call under a timeout; anything it raises becomes a BrokerError."""
        return await bounded(what, call, self._call_timeout_s if timeout_s is None else timeout_s)
