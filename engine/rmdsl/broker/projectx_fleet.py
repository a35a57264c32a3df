"""Many TopstepX accounts under one login: one token, one REST client and rate gate, one
user-hub connection; each account is a Broker of its own (docs/broker.md, "Many accounts").

`ProjectXLogin` logs in once; `login.broker(name)` is one account's Broker
(ProjectXAccount): its connect() puts the account on the shared connection
(the first account to connect opens it: the SDK's realtime client is built
for that one, the others are subscribed beside it, rmdsl.broker.projectx_routes),
its disconnect() takes only that account off. Every call names its account id,
so the REST client's selected account does not matter; the SDK's
modify_order() cannot be told one, so another account's modify is posted
directly, prices aligned to the tick as the SDK aligns them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from rmdsl.broker import projectx_rate as rate
from rmdsl.broker.projectx import MODIFY_ORDER, ProjectXBroker
from rmdsl.broker.projectx_calls import as_float, bounded, check_answer
from rmdsl.broker.projectx_contracts import Contracts
from rmdsl.broker.projectx_live import LiveFeed
from rmdsl.broker.projectx_stream import Handoff
from rmdsl.contract.broker import EventSink, OrderChange, Snapshot
from rmdsl.contract.events import (
    AccountEvent,
    ConnectionEvent,
    Event,
    OrderEvent,
    PositionEvent,
    TradeEvent,
)
from rmdsl.errors import BrokerError

log = logging.getLogger("rmdsl.broker.projectx")

ORDER_CONTRACTS_KEPT = 512  # working orders' contracts an account remembers, newest kept
ACCOUNTS_TTL_S = 2.0  # one /Account/search serves every account's snapshot within this


class ProjectXLogin:
    """The shared session; `options` are ProjectXBroker's (credentials, URLs, timeouts)."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.gate = rate.PriorityGate(options.pop("budget", None) or rate.Budget())
        self.client: Any = None
        self.suite: Any = None
        self.live: LiveFeed | None = None
        self.primary: int | None = None  # the account the SDK's realtime client is built for
        self._lock = asyncio.Lock()
        self._accounts: tuple[float, list[Any]] | None = None  # (fetched at, SDK models)
        self._listing: asyncio.Future[list[Any]] | None = None  # the /Account/search in flight
        self.listed = 0  # /Account/search calls sent
        self.contracts = Contracts()  # every account's lookups: one per contract
        # the login's own plumbing: settings, SDK factory, feed bounds (as one account's)
        self._adapter = ProjectXBroker("", **options)
        self._call_s = float(options.get("call_timeout_s", 5.0))
        self._connect_s = float(options.get("connect_timeout_s", 30.0))

    def broker(self, account_name: str) -> ProjectXAccount:
        return ProjectXAccount(self, account_name, **self.options)

    async def names(self) -> list[str]:
        """The login's account names, fresh (the config's globs match against these)."""
        return [str(a.name) for a in await self.accounts(max_age_s=0.0)]

    async def accounts(self, max_age_s: float = ACCOUNTS_TTL_S) -> list[Any]:
        """The login's accounts (/Account/search), fetched at most once per `max_age_s`; a
        search in flight serves everyone who asks meanwhile (200 starting accounts: one)."""
        await self.open()
        cached = self._accounts
        if cached is not None and time.monotonic() - cached[0] < max_age_s:
            return cached[1]
        if self._listing is None:
            self._listing = asyncio.ensure_future(self._list())
            self._listing.add_done_callback(self._listed)
        return await asyncio.shield(self._listing)

    async def _list(self) -> list[Any]:
        started = time.monotonic()
        self.listed += 1
        async with self.gate.admitted(rate.NORMAL):
            found = await bounded("list accounts", self.client.list_accounts(), self._call_s)
        self._accounts = (started, list(found))
        return self._accounts[1]

    def _listed(self, future: asyncio.Future[list[Any]]) -> None:
        self._listing = None
        if not future.cancelled():
            future.exception()  # every waiter saw it

    async def open(self) -> None:
        """Log in (once): the REST client, behind the shared rate gate."""
        async with self._lock:
            if self.client is not None:
                return
            sdk, settings = self._adapter.sdk_factory(), self._adapter.settings()
            self.client = await bounded("login", sdk.login(settings), self._connect_s)
            rate.install(self.client, self.gate)

    async def connect_hub(self, primary: Any) -> LiveFeed:
        """The one realtime connection, opened for `primary` (an SDK account model) if not yet."""
        async with self._lock:
            if self.live is not None:
                return self.live
            self.client.account_name, self.client.account_info = primary.name, primary
            self.primary = int(primary.id)
            suite = self._adapter.sdk_factory().open_suite(self.client)
            self.suite = await bounded("open the SDK suite", suite, self._call_s)
            live = self._adapter.live_feed(self.suite, self.primary, None)
            await bounded("connect realtime", live.start(), self._connect_s)
            self.live = live
            log.info("realtime connected for the login (SDK account %s)", primary.name)
            return live

    async def close(self) -> None:
        """Hang up the connection and log out (after every account has disconnected)."""
        live, client = self.live, self.client
        self.live, self.client, self.suite, self._accounts = None, None, None, None
        steps = [("stop realtime", live.stop() if live is not None else None)]
        if client is not None:
            steps.append(("log out", self._adapter.sdk_factory().logout(client)))
        for what, step in steps:
            if step is not None:
                try:
                    await bounded(what, step, self._connect_s)
                except BrokerError as exc:
                    log.warning("log out: %s", exc)


class ProjectXAccount(ProjectXBroker):
    """One account of a ProjectXLogin: the Broker an account's engine enforces through."""

    snapshot_reads = 3  # the account list is the login's, one for every account's snapshot

    def __init__(self, login: ProjectXLogin, account_name: str, **options: Any) -> None:
        super().__init__(account_name, **options)
        self.login = login
        self.gate = login.gate  # one request budget for the login: the gateway counts per token
        self._order_contracts: dict[int, str] = {}  # order id -> contract id, from the events
        self.contracts = login.contracts
        self._reading = 0  # snapshots in progress: activity moves their reads up the queue
        # the account's last update from the hub since its connection last changed, and when
        # the connection last changed (monotonic): what a snapshot's account row is (_fetch_account)
        self._hub_account: AccountEvent | None = None
        self._connection_at = 0.0

    async def connect(self, sink: EventSink) -> None:
        if self._account is not None:
            raise BrokerError(f"account {self.account_name} is already connected")
        await self.login.open()
        account = self._find(await self.login.accounts())  # fresh from the names() just read
        live = await self.login.connect_hub(account)
        self._client, self._suite, self._account = self.login.client, self.login.suite, account
        self._handoff = Handoff(self._noting(sink))
        self._handoff.start()
        self.live = live
        try:
            await self._call(
                "subscribe the account", live.add_account(self.account_id, self._handoff)
            )
        except BaseException:
            await self.disconnect()
            raise
        log.info("supervising ProjectX account %s (%d)", account.name, self.account_id)

    def _noting(self, sink: EventSink) -> EventSink:
        """The sink, after noting each order's contract (a direct modify aligns to its tick)."""

        async def deliver(event: Event) -> None:
            if isinstance(event, OrderEvent):
                self._note_contract(event)
            elif isinstance(event, AccountEvent):
                self._hub_account = event
            elif isinstance(event, ConnectionEvent):
                self._hub_account, self._connection_at = None, time.monotonic()
            if self._reading and isinstance(event, OrderEvent | PositionEvent | TradeEvent):
                self.gate.hurry(self.account_name)  # trading before its reconcile: it goes next
            await sink(event)

        return deliver

    def _note_contract(self, order: OrderEvent) -> None:
        """Working orders only (a modify targets a resting order), ORDER_CONTRACTS_KEPT at
        most: every order an account ever placed was kept, ~200 a minute in a busy fleet."""
        if not order.working:
            self._order_contracts.pop(order.id, None)
            return
        self._order_contracts[order.id] = order.contract_id
        if len(self._order_contracts) > ORDER_CONTRACTS_KEPT:  # one whose end was never seen
            del self._order_contracts[next(iter(self._order_contracts))]

    def _find(self, accounts: list[Any]) -> Any:
        wanted = self.account_name.strip().upper()
        for account in accounts:
            if str(account.name).upper() == wanted:
                return account
        names = ", ".join(sorted(str(a.name) for a in accounts)) or "none"
        raise BrokerError(
            f"ProjectX account {self.account_name!r} not found; available accounts: {names}"
        )

    async def disconnect(self) -> None:
        """Take this account off the shared connection; the login stays for the others."""
        live, handoff, account = self.live, self._handoff, self._account
        self.live, self._handoff, self._client, self._suite = None, None, None, None
        self._account = None
        if live is not None and account is not None:
            await self._quietly("unsubscribe the account", live.remove_account(int(account.id)))
        if handoff is not None:
            await handoff.close()

    @asynccontextmanager
    async def snapshot_turn(self) -> AsyncIterator[None]:
        """As one account's: its turn queued BULK behind other accounts' earlier ones, moved
        up (hurry) when the account trades meanwhile."""
        self._reading += 1
        try:
            async with super().snapshot_turn():
                yield
        finally:
            self._reading -= 1

    async def snapshot(self) -> Snapshot:
        """As one account's, its reads queued BULK behind other accounts' earlier ones."""
        self._reading += 1
        try:
            return await super().snapshot()
        finally:
            self._reading -= 1

    async def _fetch_account(self) -> AccountEvent:
        """The account's row: its last update from the hub since the connection last changed
        (while connected, every change of an account comes as an update, so that is its
        state now, and newer than any list read before it); without one, the row of the
        login's shared /Account/search (one for all accounts) fetched since that change,
        however old. No read while the snapshot holds the account's events paused unless
        the connection changed (docs/broker.md, "Many accounts: start-up")."""
        if self._hub_account is not None:
            return self._hub_account
        since_change = time.monotonic() - self._connection_at
        for account in await self.login.accounts(max_age_s=since_change):
            if int(account.id) == self.account_id:
                event = self._map("account", [account], "Account")[0]
                assert isinstance(event, AccountEvent)
                return event
        raise BrokerError(f"ProjectX account {self.account_name!r} is no longer listed as active")

    async def modify_order(self, order_id: int, change: OrderChange) -> None:
        if self.account_id == self.login.primary:  # the SDK's own account: its own call
            await super().modify_order(order_id, change)
            return
        what = f"modify order {order_id}"
        payload: dict[str, Any] = {"accountId": self.account_id, "orderId": order_id}
        for key, price in (("limitPrice", change.limit_price), ("stopPrice", change.stop_price)):
            if price is not None:
                payload[key] = as_float(await self._on_tick(order_id, price))
        if change.size is not None:
            payload["size"] = change.size
        check_answer(what, await self._post(what, MODIFY_ORDER, payload))

    async def _on_tick(self, order_id: int, price: Decimal) -> Decimal:
        """The price on its contract's tick, as the SDK aligns it (unaligned for an order
        whose contract no event has named)."""
        contract_id = self._order_contracts.get(order_id)
        if contract_id is None:
            return price
        tick = (await self.contract_info(contract_id)).tick_size
        return (price / tick).quantize(Decimal(1)) * tick
