"""ProjectX adapter plumbing: SDK payloads -> deduped engine events -> sink, in order.

Nothing here imports project_x_py: the adapter hands in what the SDK gave
it (gateway dicts or the SDK's dataclass models) and gets engine events out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections import OrderedDict, deque
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rmdsl.broker.decode.gateway import event_from_gateway
from rmdsl.contract.broker import EventSink
from rmdsl.contract.events import AccountEvent, Event, OrderEvent, PositionEvent, TradeEvent

log = logging.getLogger("rmdsl.broker.projectx")

# the handoff warns each time its backlog crosses this many events
HANDOFF_WARN_DEPTH = 1_000
# trade ids remembered for dedupe: the engine also dedupes the day's trades by id (and the
# store by primary key), so forgetting older ids here never counts a fill twice; this memory
# only spares the engine the repeats, which come seconds after the original
MAX_TRADE_IDS = 4_096
# orders / positions / accounts whose last delivered state is remembered (least recently
# changed forgotten first): a redelivery comes seconds later, long before eviction
MAX_ENTITY_IDS = 2_048


def model_payload(model: Any) -> Mapping[str, Any]:
    """An SDK model (a dataclass with the gateway's field names) or a dict -> a gateway dict."""
    if isinstance(model, Mapping):
        return model
    if dataclasses.is_dataclass(model) and not isinstance(model, type):
        return dataclasses.asdict(model)
    return dict(vars(model))


def event_from_model(target: str, model: Any, fallback_ts: dt.datetime | None = None) -> Event:
    """The one place SDK REST models become engine events: through the gateway mapping."""
    return event_from_gateway(target, model_payload(model), fallback_ts)


class Deduper:
    """Drops repeats of an event the engine has already been given; bounded memory.

    Trades are keyed by the gateway's trade id (a void of a known trade still
    passes, once). Orders, positions and accounts are compared with the last
    state delivered for the same id: an identical repeat is dropped, a real
    change (even back to an earlier state) passes. An order update older than
    the last one delivered for that id is stale and dropped too. Both memories
    are LRU-bounded, so a long session does not grow with every order id.
    """

    def __init__(self, max_trades: int = MAX_TRADE_IDS, max_entities: int = MAX_ENTITY_IDS) -> None:
        self._trades: OrderedDict[int, bool] = OrderedDict()  # trade id -> seen voided
        self._max_trades = max_trades
        # (kind, id) -> the last delivered state; for an order its key holds the ts at [1]
        self._last: OrderedDict[tuple[str, int], tuple[object, ...]] = OrderedDict()
        self._max_entities = max_entities
        self.dropped = 0

    @property
    def remembered(self) -> tuple[int, int]:
        """(trade ids, entity states) held now: for tests and the memory bench."""
        return len(self._trades), len(self._last)

    def forget_states(self) -> None:
        """After a gap in the stream: the engine's state comes from a snapshot, so the next
        state of every order, position and account is news, even one equal to the last
        state delivered before the gap (a reduce back to the pre-gap size). Trade ids stay."""
        self._last.clear()

    def is_new(self, event: Event) -> bool:
        new = self._check(event)
        self.dropped += not new
        return new

    def _check(self, event: Event) -> bool:
        if isinstance(event, TradeEvent):
            return self._new_trade(event.id, event.voided)
        if isinstance(event, OrderEvent):
            last = self._last.get(("order", event.id), ())
            if len(last) > 1 and isinstance(last[1], dt.datetime) and event.ts < last[1]:
                return False
            return self._changed("order", event.id, _order_key(event))
        if isinstance(event, PositionEvent):
            key = (event.type, event.size, event.avg_price, event.contract_id)
            return self._changed("position", event.id, key)
        if isinstance(event, AccountEvent):
            return self._changed("account", event.id, (event.balance, event.can_trade, event.name))
        return True

    def _new_trade(self, trade_id: int, voided: bool) -> bool:
        seen_voided = self._trades.get(trade_id)
        if seen_voided is not None and (seen_voided or not voided):
            return False
        self._trades[trade_id] = voided
        if len(self._trades) > self._max_trades:
            self._trades.popitem(last=False)
        return True

    def _changed(self, kind: str, ident: int, key: tuple[object, ...]) -> bool:
        if self._last.get((kind, ident)) == key:
            return False
        self._last[(kind, ident)] = key
        self._last.move_to_end((kind, ident))
        if len(self._last) > self._max_entities:
            self._last.popitem(last=False)
        return True


def _order_key(e: OrderEvent) -> tuple[object, ...]:
    prices: tuple[Decimal | None, ...] = (e.limit_price, e.stop_price, e.filled_price)
    return (e.status, e.ts, e.size, e.fill_volume, *prices)


class Handoff:
    """SDK callbacks `put` without blocking; one task awaits `sink(event)` in arrival order.

    Unbounded on purpose (a fill is never dropped here; the engine's own
    queue does the bounding and the degraded alert), but monitored: the
    depth is logged each time it crosses `warn_depth`.
    """

    def __init__(self, sink: EventSink, warn_depth: int = HANDOFF_WARN_DEPTH) -> None:
        self._sink = sink
        self._items: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._warn_depth = warn_depth
        self._warned = False
        self.peak_depth = 0
        self.delivered = 0

    @property
    def depth(self) -> int:
        return len(self._items)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._pump(), name="rmdsl-projectx-handoff")

    def put(self, event: Event) -> None:
        self._items.append(event)
        depth = len(self._items)
        self.peak_depth = max(self.peak_depth, depth)
        self._idle.clear()
        if depth >= self._warn_depth and not self._warned:
            self._warned = True
            log.warning("broker handoff backlog at %d events: the engine sink is slow", depth)
        elif depth < self._warn_depth // 2:
            self._warned = False
        self._ready.set()

    async def drain(self) -> None:
        """Wait until every event put so far has been handed to the sink (tests, shutdown)."""
        if self._task is not None:
            await self._idle.wait()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _pump(self) -> None:
        while True:
            await self._ready.wait()
            while self._items:
                event = self._items.popleft()
                try:
                    await self._sink(event)
                except Exception:
                    log.exception("engine sink raised on %s; event skipped", type(event).__name__)
                self.delivered += 1
            self._ready.clear()
            self._idle.set()
