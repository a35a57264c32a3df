"""Contract details (tick size and value), looked up once and shared.

One ProjectXBroker keeps its own; a ProjectXLogin's accounts share the
login's, so 200 accounts starting on MNQ look it up once (docs/broker.md,
"Many accounts: start-up"): a lookup in flight is joined, not sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from rmdsl.contract.broker import ContractInfo
from rmdsl.contract.events import symbol_of
from rmdsl.errors import BrokerError

Fetch = Callable[[str], Awaitable[Any]]  # contract id -> the SDK's instrument model


class Contracts:
    """contract id -> ContractInfo; `get(contract_id, fetch)` looks one up at most once."""

    def __init__(self) -> None:
        self.known: dict[str, ContractInfo] = {}
        self._fetching: dict[str, asyncio.Future[ContractInfo]] = {}
        self.fetched = 0  # lookups sent

    async def get(self, contract_id: str, fetch: Fetch) -> ContractInfo:
        cached = self.known.get(contract_id)
        if cached is not None:
            return cached
        pending = self._fetching.get(contract_id)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(contract_id, fetch))
            self._fetching[contract_id] = pending
            pending.add_done_callback(lambda f: self._done(contract_id, f))
        return await asyncio.shield(pending)

    def _done(self, contract_id: str, future: asyncio.Future[ContractInfo]) -> None:
        self._fetching.pop(contract_id, None)
        if not future.cancelled():
            future.exception()  # every waiter sees it; none left must not warn

    async def _fetch(self, contract_id: str, fetch: Fetch) -> ContractInfo:
        self.fetched += 1
        inst = await fetch(contract_id)
        try:
            info = ContractInfo(
                contract_id=contract_id,
                symbol=symbol_of(contract_id),
                tick_size=Decimal(str(inst.tickSize)),
                tick_value=Decimal(str(inst.tickValue)),
            )
        except (AttributeError, ArithmeticError) as exc:
            raise BrokerError(f"contract {contract_id}: unusable contract data {inst!r}") from exc
        if info.tick_size <= 0 or info.tick_value <= 0:
            raise BrokerError(f"contract {contract_id}: tick size/value must be positive")
        self.known[contract_id] = info
        return info
