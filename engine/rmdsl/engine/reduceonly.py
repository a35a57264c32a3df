"""Reduce-only (`reduce_only(until: ...)`): exits go through, entries and adds do not.

While a reduce-only record is active (a LockoutRecord of kind REDUCE_ONLY, so it
is persisted, restored and lifted like a pause), the account may only get
smaller (docs/decisions.md D16; NautilusTrader's REDUCING state, ProjectX's
Trade Clock):

* a working order is cancelled when the orders on its side of the contract,
  it included, could take |position| past its current size if they all filled
  (rmdsl.engine.exposure.worst_size): every order on a flat contract, every
  order on the opening side, an exit larger than the position, a second set of
  exits that with the first could flip it. A stop or target no larger than the
  position, and a stop moved, go through. Orders whose cancel is already sent
  are not counted.
* a position that opens (or flips) while it is active is closed; one that grows
  past the smallest size it had since the reduce-only began (its cap) is
  reduced back to the cap: a market order that adds is undone.
* when it starts, the working orders it would cancel are cancelled (the sweep),
  unless the same event flattened.

Caps live in memory; after a restart they are taken from the positions the state
database held, before the broker's snapshot replaces them (rmdsl.engine.restore),
so an add made while the daemon was down is undone too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rmdsl.contract.events import Event, Side
from rmdsl.engine.exposure import worst_size
from rmdsl.engine.persistence import LockoutKind, LockoutRecord

if TYPE_CHECKING:
    from rmdsl.engine.core import Engine
    from rmdsl.engine.evaluate import Firing
    from rmdsl.engine.persistence import EnforcementRecord
    from rmdsl.engine.state import Order, Position


def is_reduce_only(rec: LockoutRecord) -> bool:
    return rec.kind is LockoutKind.REDUCE_ONLY


class ReduceOnly:
    """The caps of one account's open positions while a reduce-only is active."""

    def __init__(self) -> None:
        self.caps: dict[str, tuple[bool, int]] = {}  # contract -> (long, largest size allowed)
        self.armed = False  # caps taken (a reduce-only is, or was until checked, active)

    def record(self, engine: Engine) -> LockoutRecord | None:
        """The active reduce-only that lasts longest (its end is what the trader is told)."""
        found = [r for r in engine.lockouts.active.values() if is_reduce_only(r)]
        if not found:
            self.caps.clear()
            self.armed = False
            return None
        return max(found, key=lambda r: (r.until_ts is None, r.until_ts or r.created_at))

    def arm(self, positions: Iterable[Position], fresh: bool = False) -> None:
        """A reduce-only begins (`fresh`: none was active) or is restored: each open position
        may only shrink from here."""
        if fresh or not self.armed:
            self.caps = {p.contract_id: (p.long, p.size) for p in positions}
            self.armed = True

    def police_position(
        self, engine: Engine, contract_id: str, pos: Position | None, event: Event | None
    ) -> list[Firing]:
        """A position event: close what opened, reduce what grew back to its cap."""
        lock = self.record(engine)
        if lock is None:
            return []
        self.arm(engine.state.positions.values())
        if pos is None:
            self.caps.pop(contract_id, None)  # flat: a new one would be an entry
            return []
        ex = engine.executor
        long, cap = self.caps.get(contract_id, (pos.long, 0))
        if long != pos.long or cap == 0:
            return [ex.lockout_firing(lock, contract_id, pos.symbol, event, "close")]
        if pos.size > cap:
            return [ex.lockout_firing(lock, contract_id, pos.symbol, event, "reduce", cap)]
        self.caps[contract_id] = (long, pos.size)
        return []

    def police_order(self, engine: Engine, order: Order, event: Event | None) -> list[Firing]:
        """A working order (new or modified): cancelled if it could open or add."""
        lock = self.record(engine)
        if lock is None or not self.adds(engine, order):
            return []
        return [
            engine.executor.lockout_firing(lock, order.contract_id, order.symbol, event, "cancel")
        ]

    def adds(self, engine: Engine, order: Order, kept: Iterable[Order] | None = None) -> bool:
        """The order's side, it and the other working orders of its side on the contract
        (`kept`: only those), could take |position| past its current size."""
        st = engine.state
        goals = engine.enforcer.goals
        others = st.orders.values() if kept is None else kept
        side = order.event.side
        total = order.event.size + sum(
            o.event.size
            for o in others
            if o.id != order.id
            and o.contract_id == order.contract_id
            and o.event.side is side
            and goals.of_order(o.id) is None
        )
        net = st.net(order.contract_id)
        buys, sells = (total, 0) if side is Side.BUY else (0, total)
        return worst_size(net, buys, sells) > abs(net)

    def entries(self, engine: Engine) -> list[Order]:
        """The working orders the sweep cancels when a reduce-only begins: oldest first, an
        order is kept when it and the older ones kept on its side could not add."""
        kept: list[Order] = []
        out: list[Order] = []
        for order in sorted(engine.state.orders.values(), key=lambda o: (o.placed_at, o.id)):
            (out if self.adds(engine, order, kept) else kept).append(order)
        return out


async def sweep(engine: Engine, firing: Firing, label: str) -> list[EnforcementRecord]:
    """Cancel the working orders that could open or add (a reduce-only begins)."""
    enf = engine.enforcer
    orders = engine.reduce_only.entries(engine)
    if not orders:
        return []
    return list(await asyncio.gather(*(enf.cancel(firing, o.id, label) for o in orders)))
