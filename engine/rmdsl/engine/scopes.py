"""A rule's scope -> the entities it runs for, each bound on the EvalContext in turn.

An entity is named by a key: "account", a contract id (position), a symbol,
"order:<id>" or "trade:<id>". The key is half of a timer's or latch's key
(rmdsl.engine.timers), so a timer that falls due binds its entity again by it.
"""

from __future__ import annotations

from collections.abc import Iterator

from rmdsl.contract.events import Event, OrderEvent, QuoteEvent, TradeEvent
from rmdsl.engine.state import AccountState
from rmdsl.lang.context import EvalContext
from rmdsl.lang.schema import Scope

ACCOUNT = "account"


def entities(st: AccountState, scope: Scope, event: Event | None) -> Iterator[str]:
    """Bind each entity of `scope` on the context in turn, yielding its key (a quote runs
    only the positions and symbols of its contract)."""
    ctx = st.ctx
    if scope is Scope.ACCOUNT:
        yield ACCOUNT
    elif scope is Scope.POSITION:
        for pos in list(st.positions.values()):
            if isinstance(event, QuoteEvent) and pos.contract_id != event.contract_id:
                continue
            ctx.position = pos.view
            yield pos.contract_id
        ctx.position = None
    elif scope is Scope.SYMBOL:
        symbols = {p.symbol for p in st.positions.values()}
        if isinstance(event, QuoteEvent):
            symbols &= {event.symbol}
        for sym in sorted(symbols):
            ctx.symbol = sym
            yield sym
        ctx.symbol = None
    elif scope is Scope.TRADE:
        if isinstance(event, TradeEvent):
            ctx.trade = st.trade_view(event)
            yield f"trade:{event.id}"
            ctx.trade = None
    elif scope is Scope.ORDER:
        ids = [event.id] if isinstance(event, OrderEvent) else list(st.orders)
        for oid in ids:
            order = st.orders.get(oid)
            if order is not None:
                ctx.order = order.view
                yield f"order:{oid}"
        ctx.order = None


def bind(st: AccountState, scope: Scope, entity: str) -> bool:
    """Bind one known entity (for a timer firing); False when it no longer exists."""
    ctx = st.ctx
    unbind(ctx)
    if scope is Scope.ACCOUNT:
        return True
    if scope is Scope.POSITION:
        pos = st.positions.get(entity)
        ctx.position = pos.view if pos else None
        return pos is not None
    if scope is Scope.SYMBOL:
        ctx.symbol = entity
        return any(p.symbol == entity for p in st.positions.values())
    if scope is Scope.ORDER:
        order = st.orders.get(int(entity.split(":", 1)[1]))
        ctx.order = order.view if order else None
        return order is not None
    return False


def unbind(ctx: EvalContext) -> None:
    ctx.position = ctx.trade = ctx.order = None
    ctx.symbol = None


def alive(entity: str, st: AccountState, known: set[str]) -> bool:
    """The entity still exists (an account and a trade always do); `known`: open contracts."""
    if entity == ACCOUNT or entity.startswith("trade:"):
        return True
    if entity.startswith("order:"):
        return int(entity.split(":", 1)[1]) in st.orders
    if entity in known or entity in st.positions:
        return True
    return any(p.symbol == entity for p in st.positions.values())
