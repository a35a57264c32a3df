"""Mock project-x-py SDK (docs/decisions.md Q18): a TradingSuite, an event bus, models, injection.

Shaped like the SDK objects the ProjectX adapter uses -- same attribute,
method and field names as project_x_py 4.4.1 (ProjectX client, realtime
client, OrderManager, PositionManager, EventBus, models.Position/Order/...)
-- so adapter tests run the adapter's real code paths. Async methods are
AsyncMocks (assert on them, give them side effects); state injected through
MockSDK (positions, orders, trades, accounts, instruments) is what the REST
methods return, and `push_*` delivers realtime messages exactly as the SDK's
ProjectXRealtimeClient hands them to callbacks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import AsyncMock, Mock

ACCOUNT_ID = 7001
TS = "2026-11-24T15:30:00+00:00"

# SDK realtime callback name for each user-hub target (realtime/connection_management.py)
CALLBACK_OF_TARGET = {
    "GatewayUserTrade": "trade_execution",
    "GatewayUserPosition": "position_update",
    "GatewayUserOrder": "order_update",
    "GatewayUserAccount": "account_update",
}

_ids = itertools.count(1000)


# -- models (project_x_py.models field names) ---------------------------------


@dataclass
class MockAccount:
    id: int
    name: str
    balance: float = 50_000.0
    canTrade: bool = True
    isVisible: bool = True
    simulated: bool = True


@dataclass
class MockPosition:
    id: int
    accountId: int
    contractId: str
    creationTimestamp: str
    type: int  # 1 long, 2 short
    size: int
    averagePrice: float


@dataclass
class MockOrder:
    id: int
    accountId: int
    contractId: str
    creationTimestamp: str
    updateTimestamp: str | None
    status: int
    type: int
    side: int
    size: int
    symbolId: str | None = None
    fillVolume: int | None = None
    limitPrice: float | None = None
    stopPrice: float | None = None
    filledPrice: float | None = None
    customTag: str | None = None


@dataclass(slots=True)
class MockTrade:
    id: int
    accountId: int
    contractId: str
    creationTimestamp: str
    price: float
    profitAndLoss: float | None
    fees: float
    side: int
    size: int
    voided: bool
    orderId: int
    commissions: float | None = None


@dataclass
class MockInstrument:
    id: str
    name: str
    description: str
    tickSize: float
    tickValue: float
    activeContract: bool = True
    symbolId: str | None = None


@dataclass
class MockOrderPlaceResponse:
    orderId: int
    success: bool = True
    errorCode: int = 0
    errorMessage: str | None = None


# -- event bus ------------------------------------------------------------------


class MockEventBus:
    """project_x_py.EventBus surface: on/off/emit with EventType members or their string values."""

    def __init__(self) -> None:
        self.handlers: defaultdict[str, list[Callable[[Any], Any]]] = defaultdict(list)
        self.emitted: list[tuple[str, Any]] = []

    @staticmethod
    def _key(event: Any) -> str:
        return str(getattr(event, "value", event))

    async def on(self, event: Any, handler: Callable[[Any], Any]) -> None:
        self.handlers[self._key(event)].append(handler)

    async def off(self, event: Any, handler: Callable[[Any], Any] | None = None) -> None:
        key = self._key(event)
        self.handlers[key] = [h for h in self.handlers[key] if handler not in (None, h)]

    async def emit(self, event: Any, data: Any, source: str | None = None) -> None:
        key = self._key(event)
        self.emitted.append((key, data))
        for handler in list(self.handlers[key]):
            result = handler(data)
            if asyncio.iscoroutine(result):
                await result


# -- realtime -------------------------------------------------------------------


class MockHubConnection:
    """realtime.async_hub.AsyncHubConnection surface: on_open/on_close/on_error lists, send."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.open_handlers: list[Callable[[], Any]] = []
        self.close_handlers: list[Callable[[], Any]] = []
        self.error_handlers: list[Callable[[Any], Any]] = []
        self.event_handlers: defaultdict[str, list[Callable[..., Any]]] = defaultdict(list)
        self.send = AsyncMock(return_value=None)

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        self.event_handlers[event].append(handler)

    async def invoke(self, event: str, *args: Any) -> None:
        """A hub invocation the SDK does not forward as a callback (e.g. GatewayLogout)."""
        for handler in list(self.event_handlers[event]):
            result = handler(*args)
            if asyncio.iscoroutine(result):
                await result

    def on_open(self, handler: Callable[[], Any]) -> None:
        self.open_handlers.append(handler)

    def on_close(self, handler: Callable[[], Any]) -> None:
        self.close_handlers.append(handler)

    def on_error(self, handler: Callable[[Any], Any]) -> None:
        self.error_handlers.append(handler)

    async def fire(self, handlers: list[Callable[[], Any]]) -> None:
        for handler in list(handlers):
            result = handler()
            if asyncio.iscoroutine(result):
                await result


class MockRealtime:
    """ProjectXRealtimeClient surface used by the adapter; `push_*`, `drop`, `reopen` inject."""

    def __init__(self, account_id: int = ACCOUNT_ID) -> None:
        self.account_id = str(account_id)
        self.user_hub_url = "http://127.0.0.1:9/hubs/user"
        self.market_hub_url = "http://127.0.0.1:9/hubs/market"
        self.stale_feed_seconds = 30.0
        self.callbacks: defaultdict[str, list[Callable[[Any], Any]]] = defaultdict(list)
        self.user_connected = False
        self.market_connected = False
        self.user_connection: MockHubConnection | None = None
        self.market_connection: MockHubConnection | None = None
        self.jwt_token = "jwt-1"
        self.add_callback = AsyncMock(side_effect=self._add_callback)
        self.connect = AsyncMock(side_effect=self._connect)
        self.subscribe_user_updates = AsyncMock(return_value=True)
        self.update_jwt_token = AsyncMock(side_effect=self._update_jwt_token)
        self.cleanup = AsyncMock(side_effect=self._cleanup)

    async def _add_callback(self, event_type: str, callback: Callable[[Any], Any]) -> None:
        self.callbacks[event_type].append(callback)

    async def _connect(self) -> bool:
        if self.user_connection is None:
            self.user_connection = MockHubConnection("user")
            self.market_connection = MockHubConnection("market")
        self.user_connected = self.market_connected = True
        return True

    async def _update_jwt_token(self, token: str, timeout: float = 30.0) -> bool:
        self.jwt_token = token
        # like the SDK: a token refresh builds new hub connection objects
        self.user_connection = self.market_connection = None
        return await self._connect()

    async def _cleanup(self) -> None:
        self.user_connected = self.market_connected = False
        self.callbacks.clear()

    async def deliver(self, event_type: str, data: Any) -> None:
        """What the SDK's _trigger_callbacks does: await async callbacks, call plain ones."""
        for callback in list(self.callbacks[event_type]):
            if asyncio.iscoroutinefunction(callback):
                await callback(data)
            else:
                callback(data)

    async def push_user(self, target: str, data: dict[str, Any], *, times: int = 1) -> None:
        """A user-hub message, wrapped as the gateway sends it, `times` times (SDK duplicates)."""
        for _ in range(times):
            await self.deliver(CALLBACK_OF_TARGET[target], {"action": 1, "data": data})

    async def push_quote(self, contract_id: str, data: dict[str, Any]) -> None:
        await self.deliver("quote_update", {"contract_id": contract_id, "data": data})

    async def drop(self) -> None:
        """The user hub's websocket closes (pysignalr calls the close handlers)."""
        self.user_connected = False
        if self.user_connection is not None:
            await self.user_connection.fire(self.user_connection.close_handlers)

    async def reopen(self) -> None:
        """The websocket came back by itself (pysignalr calls the open handlers)."""
        self.user_connected = True
        if self.user_connection is not None:
            await self.user_connection.fire(self.user_connection.open_handlers)


# -- REST client and managers ----------------------------------------------------


class MockClient:
    """project_x_py.ProjectX surface: account selection, positions, trades, instruments."""

    def __init__(self, sdk: MockSDK) -> None:
        self._sdk = sdk
        self.account_name: str | None = None
        self.account_info: MockAccount | None = sdk.accounts[0] if sdk.accounts else None
        self.authenticate = AsyncMock(return_value=None)
        self.list_accounts = AsyncMock(side_effect=lambda: list(sdk.accounts))
        self.search_open_positions = AsyncMock(side_effect=self._positions)
        self.search_trades = AsyncMock(side_effect=self._trades)
        self.get_instrument = AsyncMock(side_effect=self._instrument)
        self.get_session_token = Mock(return_value="jwt-2")
        # the authenticated request the adapter posts the two position closes with
        self._make_request = AsyncMock(return_value={"success": True, "errorCode": 0})

    async def _positions(self, account_id: int | None = None) -> list[MockPosition]:
        return [p for p in self._sdk.positions if p.size != 0]

    async def _trades(self, start_date: dt.datetime | None = None, **_: Any) -> list[MockTrade]:
        start = start_date or dt.datetime.min.replace(tzinfo=dt.UTC)
        return [
            t for t in self._sdk.trades if dt.datetime.fromisoformat(t.creationTimestamp) >= start
        ]

    async def _instrument(self, symbol: str, live: bool = False) -> MockInstrument:
        try:
            return self._sdk.instruments[symbol]
        except KeyError:
            raise RuntimeError(f"Instrument not found: {symbol}") from None


class MockOrderManager:
    """order_manager.OrderManager surface."""

    def __init__(self, sdk: MockSDK) -> None:
        self._sdk = sdk
        self.search_open_orders = AsyncMock(side_effect=self._open_orders)
        self.place_order = AsyncMock(side_effect=self._place)
        self.cancel_order = AsyncMock(return_value=True)
        self.modify_order = AsyncMock(return_value=True)

    async def _open_orders(self, **_: Any) -> list[MockOrder]:
        return [o for o in self._sdk.orders if o.status in (1, 6, 8)]

    async def _place(self, **_: Any) -> MockOrderPlaceResponse:
        return MockOrderPlaceResponse(orderId=next(_ids))


class MockPositionManager:
    """position_manager.PositionManager surface (answers are the gateway's dicts); the
    adapter must not call its closes (they sleep 0.1 s), tests assert they stay unused."""

    def __init__(self) -> None:
        ok = {"success": True, "errorCode": 0, "errorMessage": None}
        self.close_position_direct = AsyncMock(return_value=dict(ok))
        self.partially_close_position = AsyncMock(return_value=dict(ok))


@dataclass
class MockTradingSuite:
    """trading_suite.TradingSuite attribute names: client, realtime, orders, positions, events."""

    client: MockClient
    realtime: MockRealtime
    orders: MockOrderManager
    positions: MockPositionManager
    events: MockEventBus = field(default_factory=MockEventBus)

    async def on(self, event: Any, handler: Callable[[Any], Any]) -> None:
        await self.events.on(event, handler)

    async def disconnect(self) -> None:
        await self.realtime.cleanup()


class MockSDK:
    """The adapter's SDK factory (login / open_suite / logout) over one mock suite; injection."""

    def __init__(self, accounts: list[MockAccount] | None = None) -> None:
        self.accounts = accounts or [
            MockAccount(ACCOUNT_ID, "PRACTICE-1"),
            MockAccount(7002, "LIVE-1"),
        ]
        self.positions: list[MockPosition] = []
        self.orders: list[MockOrder] = []
        self.trades: list[MockTrade] = []
        self.instruments: dict[str, MockInstrument] = {}
        self.suite = MockTradingSuite(
            client=MockClient(self),
            realtime=MockRealtime(),
            orders=MockOrderManager(self),
            positions=MockPositionManager(),
        )
        self.settings: Any = None
        self.login = AsyncMock(side_effect=self._login)
        self.open_suite = AsyncMock(side_effect=self._open_suite)
        self.logout = AsyncMock(return_value=None)

    async def _login(self, settings: Any) -> MockClient:
        self.settings = settings
        return self.suite.client

    async def _open_suite(self, client: MockClient) -> MockTradingSuite:
        assert client.account_info is not None
        self.suite.realtime.account_id = str(client.account_info.id)
        return self.suite

    @property
    def realtime(self) -> MockRealtime:
        return self.suite.realtime

    def add_instrument(self, contract_id: str, tick_size: float, tick_value: float) -> None:
        name = contract_id.split(".")[3] if contract_id.startswith("CON.") else contract_id
        self.instruments[contract_id] = MockInstrument(
            contract_id, name, name, tick_size, tick_value
        )

    def add_position(
        self, contract_id: str, size: int, price: float, *, short: bool = False, **kw: Any
    ) -> MockPosition:
        fields: dict[str, Any] = {
            "id": next(_ids),
            "accountId": ACCOUNT_ID,
            "creationTimestamp": TS,
        }
        fields.update(kw)
        position = MockPosition(
            contractId=contract_id, type=2 if short else 1, size=size, averagePrice=price, **fields
        )
        self.positions.append(position)
        return position

    def add_order(
        self, contract_id: str, *, type: int, side: int, size: int, **kw: Any
    ) -> MockOrder:
        fields: dict[str, Any] = {
            "id": next(_ids),
            "accountId": ACCOUNT_ID,
            "creationTimestamp": TS,
            "updateTimestamp": TS,
            "status": 1,
        }
        fields.update(kw)
        order = MockOrder(contractId=contract_id, type=type, side=side, size=size, **fields)
        self.orders.append(order)
        return order

    def add_trade(
        self, contract_id: str, *, price: float, side: int, size: int, **kw: Any
    ) -> MockTrade:
        fields: dict[str, Any] = {
            "id": next(_ids),
            "accountId": ACCOUNT_ID,
            "creationTimestamp": TS,
            "profitAndLoss": None,
            "fees": 0.37,
            "voided": False,
            "orderId": 0,
        }
        fields.update(kw)
        trade = MockTrade(contractId=contract_id, price=price, side=side, size=size, **fields)
        self.trades.append(trade)
        return trade
