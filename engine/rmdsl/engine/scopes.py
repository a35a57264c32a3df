"""A rule's scope -> the entities it runs for, and what binds each on the EvalContext.

An entity is named by a key: "account", a contract id (position), a symbol,
"order:<id>" or "trade:<id>". The key is half of a timer's or latch's key
(rmdsl.engine.timers), so a timer that falls due binds its entity again by it.
"""

from __future__ import annotations

from rmdsl.contract.events import Event, OrderEvent, QuoteEvent, TradeEvent
from rmdsl.engine.state import AccountState
from rmdsl.lang.context import EvalContext
from rmdsl.lang.schema import Scope

ACCOUNT = "account"

# the EvalContext attribute that binds an entity of each scope (the account binds none)
ATTRIBUTE = {
    Scope.POSITION: "position",
    Scope.SYMBOL: "symbol",
    Scope.TRADE: "trade",
    Scope.ORDER: "order",
}
Listed = tuple[tuple[str, object], ...]


def listed(st: AccountState, scope: Scope, event: Event | None) -> Listed:
    """The entities of `scope` for this event, as (key, the value bound on ATTRIBUTE[scope]):
    a quote runs only the positions and symbols of its contract. The evaluator lists them
    once per step and shares them among the step's rules of the scope: rules only read the
    state, so the list cannot change within the step."""
    if scope is Scope.POSITION:
        quote = event.contract_id if isinstance(event, QuoteEvent) else None
        return tuple(
            (p.contract_id, p.view)
            for p in st.positions.values()
            if quote is None or p.contract_id == quote
        )
    if scope is Scope.SYMBOL:
        symbols = {p.symbol for p in st.positions.values()}
        if isinstance(event, QuoteEvent):
            symbols &= {event.symbol}
        return tuple((sym, sym) for sym in sorted(symbols))
    if scope is Scope.TRADE:
        if isinstance(event, TradeEvent):
            return ((f"trade:{event.id}", st.trade_view(event)),)
        return ()
    if scope is Scope.ORDER:
        if isinstance(event, OrderEvent):  # the changed order only (gone once done)
            order = st.orders.get(event.id)
            return () if order is None else ((f"order:{event.id}", order.view),)
        return tuple((f"order:{oid}", o.view) for oid, o in st.orders.items())
    return ((ACCOUNT, None),)


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


def target(
    st: AccountState, scope: Scope, entity: str, event: Event | None
) -> tuple[str | None, str | None, int | None]:
    """What a firing for the bound entity acts on: (contract id, symbol, order id)."""
    ctx = st.ctx
    if scope is Scope.POSITION and ctx.position is not None:
        return ctx.position.contract_id, ctx.position.symbol, None
    if scope is Scope.TRADE and isinstance(event, TradeEvent):
        return event.contract_id, event.symbol, None
    if scope is Scope.SYMBOL:
        return None, entity, None
    if scope is Scope.ORDER and ctx.order is not None:
        oid = int(entity.split(":", 1)[1])
        order = st.orders.get(oid)
        return (order.contract_id if order else None), ctx.order.symbol, oid
    return None, None, None
