"""Reduce-only (`reduce_only(until: ...)`): exits go through, entries and adds do not.

While a reduce-only record is active (a LockoutRecord of kind REDUCE_ONLY, so it
is persisted, restored and lifted like a pause), the account may only get
smaller (docs/decisions.md D16; NautilusTrader's REDUCING state, ProjectX's
Trade Clock):

* a working order is cancelled when the orders on its side of the contract,
  it included, could take |position| past its current size if they all filled
  (rmdsl.engine.exposure.worst_size): every order on a flat contract, every
  order on the opening side, an exit larger than the position, a further exit
  that with the others could flip it. A stop or target no larger than the
  position, and a stop moved, go through. Orders whose cancel is already sent
  are not counted.
* a position that opens (or flips) while it is active is closed; one that grows
  past the smallest size it had since the reduce-only began (its cap) is
  reduced back to the cap: a market order that adds is undone.
* when it starts, the working orders it would cancel are cancelled (the sweep),
  unless the same event flattened.

Caps live in memory; after a restart they are taken from the positions the state
database held, before the broker's snapshot replaces them (Stepper.begin), so an
add made while the daemon was down is undone by the reconcile (`police_present`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from rmdsl.contract.events import Event, OrderType, Side
from rmdsl.engine.entities import Order, Position
from rmdsl.engine.evaluate import Firing
from rmdsl.engine.execute import lockout_firing
from rmdsl.engine.exposure import worst_size
from rmdsl.engine.lockouts import Lockouts
from rmdsl.engine.persistence import EnforcementRecord, LockoutKind, LockoutRecord
from rmdsl.engine.ports import EnforcerPort
from rmdsl.engine.state import AccountState
from rmdsl.engine.today import Today


def is_reduce_only(rec: LockoutRecord) -> bool:
    return rec.kind is LockoutKind.REDUCE_ONLY


@dataclass(eq=False)
class ReduceOnly:
    """The caps of one account's open positions while a reduce-only is active."""

    state: AccountState
    lockouts: Lockouts
    enforcer: EnforcerPort  # which orders have a cancel in flight
    today: Today  # the timezone of the end the trader is told
    caps: dict[str, tuple[bool, int]] = field(default_factory=dict, init=False)  # long, size
    armed: bool = field(default=False, init=False)  # caps taken for the active reduce-only

    def record(self) -> LockoutRecord | None:
        """The active reduce-only that lasts longest (its end is what the trader is told)."""
        found = [r for r in self.lockouts.active.values() if is_reduce_only(r)]
        if not found:
            self.caps.clear()
            self.armed = False
            return None
        return max(found, key=lambda r: (r.until_ts is None, r.until_ts or r.created_at))

    def arm(self, fresh: bool = False) -> None:
        """A reduce-only begins (`fresh`: none was active) or is restored: each open position
        may only shrink from here."""
        if fresh or not self.armed:
            self.caps = {p.contract_id: (p.long, p.size) for p in self.state.positions.values()}
            self.armed = True

    def first(self, rec: LockoutRecord) -> bool:
        """`rec` is the only active reduce-only: its caps are taken afresh."""
        return not any(is_reduce_only(r) and r.id != rec.id for r in self.lockouts.active.values())

    def police_position(
        self, contract_id: str, pos: Position | None, event: Event | None
    ) -> list[Firing]:
        """A position event: close what opened, reduce what grew back to its cap."""
        lock = self.record()
        if lock is None:
            return []
        self.arm()
        if pos is None:
            self.caps.pop(contract_id, None)  # flat: a new one would be an entry
            return []
        long, cap = self.caps.get(contract_id, (pos.long, 0))
        if long != pos.long or cap == 0:
            return [self._firing(lock, contract_id, pos.symbol, event, "close")]
        if pos.size > cap:
            return [self._firing(lock, contract_id, pos.symbol, event, "reduce", cap)]
        self.caps[contract_id] = (long, pos.size)
        return []

    def police_order(self, order: Order, event: Event | None) -> list[Firing]:
        """A working order (new or modified): cancelled if it could open or add."""
        lock = self.record()
        if lock is None or not self.adds(order):
            return []
        return [self._firing(lock, order.contract_id, order.symbol, event, "cancel")]

    def police_present(self) -> list[Firing]:
        """After a reconcile: the snapshot's positions and orders, each as if it had just come."""
        out: list[Firing] = []
        blocking = self.lockouts.blocking  # what a lockout polices, restore.police does
        for pos in list(self.state.positions.values()):
            if blocking(pos.symbol, pos.opened_at) is None:
                out += self.police_position(pos.contract_id, pos, None)
        for order in list(self.state.orders.values()):
            market = order.event.type is OrderType.MARKET
            if not market and blocking(order.symbol, order.placed_at) is None:
                out += self.police_order(order, order.event)
        return out

    def adds(self, order: Order, kept: Iterable[Order] | None = None) -> bool:
        """The order's side, it and the other working orders of its side on the contract
        (`kept`: only those), could take |position| past its current size."""
        st = self.state
        others = st.orders.values() if kept is None else kept
        side = order.event.side
        total = order.event.size + sum(
            o.event.size
            for o in others
            if o.id != order.id
            and o.contract_id == order.contract_id
            and o.event.side is side
            and not self.enforcer.cancel_sent(o.id)
        )
        net = st.net(order.contract_id)
        buys, sells = (total, 0) if side is Side.BUY else (0, total)
        return worst_size(net, buys, sells) > abs(net)

    def entries(self) -> list[Order]:
        """The working orders the sweep cancels when a reduce-only begins: oldest first, an
        order is kept when it and the older ones kept on its side could not add."""
        kept: list[Order] = []
        out: list[Order] = []
        for order in sorted(self.state.orders.values(), key=lambda o: (o.placed_at, o.id)):
            (out if self.adds(order, kept) else kept).append(order)
        return out

    async def sweep(self, firing: Firing, label: str) -> list[EnforcementRecord]:
        """Cancel the working orders that could open or add (a reduce-only begins)."""
        enf = self.enforcer
        orders = self.entries()
        return list(await asyncio.gather(*(enf.cancel(firing, o.id, label) for o in orders)))

    def _firing(
        self,
        lock: LockoutRecord,
        contract_id: str,
        symbol: str,
        event: Event | None,
        kind: str,
        to: int = 0,
    ) -> Firing:
        now, zone = self.state.now, self.today.zone
        return lockout_firing(lock, contract_id, symbol, event, kind, now, zone, to)
