"""One user-hub connection, many accounts: each decoded event to its own account's handoff.

The gateway's user hub takes SubscribeOrders / SubscribePositions /
SubscribeTrades once per account id on one connection, and SubscribeAccounts
(no argument) streams every account of the login; each payload carries its
`accountId` (docs/broker.md, "Many accounts on one connection"). project-x-py
4.4.1's realtime client subscribes one account (its `account_id`); the others
are subscribed here on the same connection, and again after every reconnect.

Routing is by the event's account id: an event for an account this daemon does
not supervise is dropped and counted (`unrouted`), never handed to another
account's engine. Connection changes go to every account. Quotes carry no
account: they go to the accounts that follow the contract, and an account
follows it only while it has a position or a working order in it (a quote
changes only the open P&L of that contract's position: docs/broker.md).

A quote with more followers than one slice is handed out by one task, a slice
per loop turn, so a fill that arrives meanwhile is not queued behind every
follower's turn (docs/performance.md, "The close tail and the memory slope").
Each account still sees its own events in arrival order: an event for an
account first hands it the quotes still waiting for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from rmdsl.broker.projectx_stream import Handoff
from rmdsl.contract.events import (
    AccountEvent,
    ConnectionEvent,
    Event,
    OrderEvent,
    PositionEvent,
    QuoteEvent,
)

log = logging.getLogger("rmdsl.broker.projectx")

USER_TOPICS = ("Orders", "Positions", "Trades")  # the per-account user-hub subscriptions
# followers handed one quote per loop turn: a user-hub event waits for about one slice
QUOTE_SLICE = 16


class _Fan:
    """One quote still being handed out: followers in order, those not handed it yet."""

    __slots__ = ("at", "event", "left", "order")

    def __init__(self, event: QuoteEvent, followers: Iterable[int]) -> None:
        self.event = event
        self.order = list(followers)
        self.at = 0
        self.left = set(self.order)


class Routes:
    """account id -> its Handoff; which accounts follow which contract's quotes, and why."""

    def __init__(
        self, on_contract: Callable[[str], None] | None = None, quote_slice: int = QUOTE_SLICE
    ) -> None:
        self._on_contract = on_contract  # a contract's first follower: subscribe its quotes
        self._handoffs: dict[int, Handoff] = {}
        self._quotes: dict[str, set[int]] = {}  # contract id -> the accounts following it
        # (account, contract) -> its open positions and working orders there (kind, id)
        self._exposure: dict[tuple[int, str], set[tuple[str, int]]] = {}
        self._latest: dict[str, QuoteEvent] = {}  # the last quote of each contract
        # (account, contract) -> the last quote it was handed before it stopped following
        self._had: dict[tuple[int, str], QuoteEvent | None] = {}
        self._fans: deque[_Fan] = deque()  # quotes still being handed out, oldest first
        self._fanning: asyncio.Task[None] | None = None
        self._slice = max(1, quote_slice)
        self.unrouted = 0  # events of accounts not supervised here (dropped)

    def __contains__(self, account_id: int) -> bool:
        return account_id in self._handoffs

    @property
    def accounts(self) -> tuple[int, ...]:
        return tuple(self._handoffs)

    def add(self, account_id: int, handoff: Handoff) -> None:
        self._handoffs[account_id] = handoff

    def remove(self, account_id: int) -> None:
        self._handoffs.pop(account_id, None)
        for followers in self._quotes.values():
            followers.discard(account_id)
        for table in (self._exposure, self._had):
            for key in [k for k in table if k[0] == account_id]:
                del table[key]
        for fan in self._fans:
            fan.left.discard(account_id)

    def following(self, contract_id: str) -> frozenset[int]:
        """The accounts a quote of the contract goes to now."""
        return frozenset(self._quotes.get(contract_id, ()))

    def follow(self, contract_id: str, account_id: int) -> bool:
        """The account follows the contract's quotes; True when it did not already.

        A new follower is handed the contract's latest quote first (before whatever made
        it follow) unless it has it, so its engine never prices a new position without one."""
        followers = self._quotes.get(contract_id)
        if followers is None:
            self._quotes[contract_id] = followers = set()
            if self._on_contract is not None:
                self._on_contract(contract_id)
        if account_id in followers:
            return False
        followers.add(account_id)
        latest, had = self._latest.get(contract_id), self._had.pop((account_id, contract_id), None)
        if latest is not None and latest is not had and len(self._handoffs) > 1:
            # (one account is handed every quote anyway); handed now: its latency starts now
            self._put(account_id, dataclasses.replace(latest, received_ns=time.monotonic_ns()))
        return True

    def expose(self, account_id: int, snapshot: Iterable[PositionEvent | OrderEvent]) -> None:
        """A snapshot's open positions and working orders: the account follows their
        contracts until events say they are gone (what a gap lost only costs quotes)."""
        for event in snapshot:
            self._note(account_id, event)

    def account_of(self, event: Event) -> int | None:
        """The supervised account an event belongs to (None: nobody's here)."""
        account_id = (
            event.id if isinstance(event, AccountEvent) else getattr(event, "account_id", 0)
        )
        if account_id in self._handoffs:
            return int(account_id)
        if account_id == 0 and len(self._handoffs) == 1:
            return next(iter(self._handoffs))  # one account: a payload without an id is its
        return None

    def deliver(self, event: Event) -> bool:
        """Hand the event to its account (quotes: to each follower); False when dropped."""
        if isinstance(event, QuoteEvent):
            return self._deliver_quote(event)
        account_id = self.account_of(event)
        if account_id is None:
            self.unrouted += 1
            return False
        self._catch_up(account_id)  # the quotes that came before it, first
        if isinstance(event, PositionEvent | OrderEvent):
            self._note(account_id, event)
        self._handoffs[account_id].put(event)
        return True

    def broadcast(self, event: ConnectionEvent) -> None:
        for account_id, handoff in self._handoffs.items():
            self._catch_up(account_id)
            handoff.put(event)

    # -- exposure ----------------------------------------------------------------------------

    def _note(self, account_id: int, event: PositionEvent | OrderEvent) -> None:
        """Follow a contract at the account's first position or working order in it; stop
        when the last is gone (the account keeps the last price it was given)."""
        key = (account_id, event.contract_id)
        item = ("position" if isinstance(event, PositionEvent) else "order", event.id)
        open_ = event.size != 0 if isinstance(event, PositionEvent) else event.working
        held = self._exposure.get(key)
        if open_:
            if held is None:
                self._exposure[key] = held = set()
            held.add(item)
            self.follow(event.contract_id, account_id)
        elif held is not None:
            held.discard(item)
            if not held:
                self._unfollow(account_id, event.contract_id)

    def _unfollow(self, account_id: int, contract_id: str) -> None:
        self._exposure.pop((account_id, contract_id), None)
        followers = self._quotes.get(contract_id)
        if followers is not None and account_id in followers:
            followers.discard(account_id)
            # every quote before this was handed to it (_catch_up): its last is the latest
            self._had[(account_id, contract_id)] = self._latest.get(contract_id)

    # -- quotes ------------------------------------------------------------------------------

    def _deliver_quote(self, event: QuoteEvent) -> bool:
        self._latest[event.contract_id] = event
        if len(self._handoffs) == 1:  # one account: every quote subscribed is for it
            next(iter(self._handoffs.values())).put(event)
            return True
        followers = self._quotes.get(event.contract_id)
        if not followers:
            return False
        if not self._fans and len(followers) <= self._slice:
            for account_id in followers:
                self._handoffs[account_id].put(event)
            return True
        self._fans.append(_Fan(event, followers))
        if self._fanning is None:
            self._fanning = asyncio.get_running_loop().create_task(
                self._fan_out(), name="rmdsl-projectx-quotes"
            )
        return True

    async def _fan_out(self) -> None:
        """Hand the queued quotes out, one slice of followers per loop turn, oldest first."""
        try:
            while self._fans:
                fan = self._fans[0]
                handed = 0
                while fan.at < len(fan.order) and handed < self._slice:
                    account_id = fan.order[fan.at]
                    fan.at += 1
                    if account_id in fan.left:
                        fan.left.discard(account_id)
                        self._put(account_id, fan.event)
                        handed += 1
                if fan.at >= len(fan.order):
                    self._fans.popleft()
                await asyncio.sleep(0)  # the loop's turn: user-hub events go ahead
        finally:
            self._fanning = None

    def _catch_up(self, account_id: int) -> None:
        """Before an event of the account: the quotes still waiting for it, oldest first."""
        for fan in self._fans:
            if account_id in fan.left:
                fan.left.discard(account_id)
                self._put(account_id, fan.event)

    def _put(self, account_id: int, event: Event) -> None:
        handoff = self._handoffs.get(account_id)
        if handoff is not None:
            handoff.put(event)

    async def close(self) -> None:
        """Stop handing out quotes (the connection is going away)."""
        task, self._fanning = self._fanning, None
        self._fans.clear()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def subscribe(rt: Any, account_ids: Iterable[int], on: bool = True) -> None:
    """(Un)subscribe accounts' orders, positions and trades on the SDK's user hub connection.

    Raises what the connection's send raises (the caller turns it into a BrokerError).
    """
    connection = rt.user_connection
    if connection is None:
        raise ConnectionError("the user hub is not connected")
    prefix = "Subscribe" if on else "Unsubscribe"
    for account_id in account_ids:
        for topic in USER_TOPICS:
            result = connection.send(f"{prefix}{topic}", [int(account_id)])
            if hasattr(result, "__await__"):
                await result
