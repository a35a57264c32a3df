"""One user-hub connection, many accounts: each decoded event to its own account's handoff.

The gateway's user hub takes SubscribeOrders / SubscribePositions /
SubscribeTrades once per account id on one connection, and SubscribeAccounts
(no argument) streams every account of the login; each payload carries its
`accountId` (docs/broker.md, "Many accounts on one connection"). project-x-py
4.4.1's realtime client subscribes one account (its `account_id`); the others
are subscribed here on the same connection, and again after every reconnect.

Routing is by the event's account id: an event for an account this daemon does
not supervise is dropped and counted (`unrouted`), never handed to another
account's engine. Quotes carry no account: they go to the accounts that follow
the contract (each account's exposure), connection changes go to every account.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from rmdsl.broker.projectx_stream import Handoff
from rmdsl.contract.events import AccountEvent, ConnectionEvent, Event, QuoteEvent

log = logging.getLogger("rmdsl.broker.projectx")

USER_TOPICS = ("Orders", "Positions", "Trades")  # the per-account user-hub subscriptions


class Routes:
    """account id -> its Handoff; which accounts follow which contract's quotes."""

    def __init__(self) -> None:
        self._handoffs: dict[int, Handoff] = {}
        self._quotes: dict[str, set[int]] = {}  # contract id -> the accounts following it
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

    def follow(self, contract_id: str, account_id: int) -> bool:
        """The account follows the contract's quotes; True when no account did before."""
        followers = self._quotes.get(contract_id)
        if followers is None:
            self._quotes[contract_id] = {account_id}
            return True
        followers.add(account_id)
        return False

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
        self._handoffs[account_id].put(event)
        return True

    def _deliver_quote(self, event: QuoteEvent) -> bool:
        followers = self._quotes.get(event.contract_id)
        if len(self._handoffs) == 1:  # one account: every quote subscribed is for it
            followers = set(self._handoffs)
        for account_id in followers or ():
            handoff = self._handoffs.get(account_id)
            if handoff is not None:
                handoff.put(event)
        return bool(followers)

    def broadcast(self, event: ConnectionEvent) -> None:
        for handoff in self._handoffs.values():
            handoff.put(event)


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
