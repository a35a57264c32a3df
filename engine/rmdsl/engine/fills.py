"""One fill, told by several events in any order: how much of it the position has not seen yet.

The gateway tells one fill three times: the Order (its fillVolume), the Trade
and the Position (its new size). Live captures show them in that order; no
source says they always come so (docs/engine.md, "One fill, several
events"). The state shrinks a position from the first event that shows a
closing fill, so that no rule acts on a position the fill already closed,
and must then not count the same fill again from its other events:

- the Order and the Trade of one fill are the same volume: an order's known
  filled volume is the larger of its fillVolume and the sum of its trades, and
  only an increase of it is a new fill;
- a Trade that fills the rest of a working order ends it, as its FILLED
  Order would (a flatten must not try to cancel an order that has filled);
- a Position that came before the fill's Order and Trade already holds the
  fill: it leaves a credit (size before, size after), and the fill that
  explains exactly that change, while the position is still that size, is
  not applied again.
"""

from __future__ import annotations

from rmdsl.contract.events import OrderEvent, OrderStatus, Side, TradeEvent
from rmdsl.engine.compact import IntPairs


class FillBook:
    """Per order: the volume known filled; per contract: the position change not yet explained."""

    def __init__(self) -> None:
        # key -> (fillVolume seen, trades' sum): one an order of the day, held until the reset
        # (a late event of a filled order must add nothing), so as arrays (rmdsl.engine.compact)
        self._orders = IntPairs()
        self._credits: dict[str, tuple[int, int]] = {}  # contract -> (net before, net after)

    def from_order(self, ev: OrderEvent) -> int:
        """The volume this order event newly shows filled (0: nothing new)."""
        volume = ev.fill_volume
        if ev.status is OrderStatus.FILLED and volume <= 0:
            volume = ev.size  # a FILLED order without its fillVolume: all of it
        if volume <= 0:
            return 0
        seen, traded = self._orders.get(ev.id)
        self._orders.set(ev.id, max(seen, volume), traded)
        return max(volume - max(seen, traded), 0)

    def from_trade(self, ev: TradeEvent) -> int:
        """The volume this (new, not voided) fill adds to what its order was known to fill."""
        key = ev.order_id or -ev.id  # a fill without an order id is its own
        seen, traded = self._orders.get(key)
        self._orders.set(key, seen, traded + ev.size)
        return max(traded + ev.size - max(seen, traded), 0)

    def filled(self, order_id: int) -> int:
        """The volume of the order known filled, from its order events and its trades."""
        seen, traded = self._orders.get(order_id)
        return max(seen, traded)

    def position(self, contract_id: str, before: int, after: int) -> None:
        """A position event moved the contract's signed net from `before` to `after`."""
        if before == after:
            self._credits.pop(contract_id, None)
        else:
            self._credits[contract_id] = (before, after)

    def included(self, contract_id: str, side: Side, volume: int, net: int) -> bool:
        """The fill (side, volume) is the change a position event already showed: skip it."""
        credit = self._credits.pop(contract_id, None)
        if credit is None:
            return False
        before, after = credit
        signed = volume if side is Side.BUY else -volume
        return net == after and before + signed == after

    def forget_credits(self) -> None:
        """The positions were replaced by the broker's: no position change awaits its fill (the
        orders' known volumes stay: a late event of a fill the snapshot holds adds nothing)."""
        self._credits.clear()

    def clear(self) -> None:
        """A new trading day: nothing is pending."""
        self._orders.clear()
        self._credits.clear()
