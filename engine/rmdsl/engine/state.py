"""Events -> account state: positions, orders, today's trades and P&L, kept as EvalContext views.

`AccountState.apply_*` take one event and update the views incrementally
(a quote touches only the positions of its contract). Out-of-order rules
are in docs/engine.md ("Out-of-order events").
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from rmdsl.contract.events import (
    AccountEvent,
    OrderEvent,
    PositionEvent,
    PositionType,
    QuoteEvent,
    Side,
    TradeEvent,
    symbol_of,
)
from rmdsl.engine import exposure
from rmdsl.engine.account import AccountModel
from rmdsl.engine.compact import OURS, VOIDED, DayFills
from rmdsl.engine.entities import DEFAULT_CONTRACTS, Order, Position, protection
from rmdsl.engine.fills import FillBook
from rmdsl.engine.functions import Functions
from rmdsl.engine.history import DayHistory
from rmdsl.engine.windows import FillWindow, count
from rmdsl.lang.context import AccountView, EvalContext, TradeView

ZERO = Decimal(0)
_CENT = Decimal("0.01")
_NO_CONTRACT = (ZERO, ZERO)  # tick size and value of a contract not known (yet)
_MS = dt.timedelta(milliseconds=1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _epoch_ms(ts: dt.datetime) -> int:
    return (ts - _EPOCH) // _MS


def ms_between(a: dt.datetime, b: dt.datetime) -> int:
    """Whole milliseconds from a to b (never negative)."""
    return max((b - a) // _MS, 0)


class TradeResult:
    NEW = "new"
    DUPLICATE = "duplicate"
    VOIDED = "voided"
    LATE = "late"  # a fill of a trading day already closed (rmdsl.engine.daybook)


class AccountState:
    """One account's state; `ctx` is the EvalContext the compiled rules read."""

    def __init__(self, account_id: int = 0) -> None:
        self.ctx = EvalContext(account=AccountView(id=account_id))
        self.ctx.funcs = Functions(self)
        self.positions: dict[str, Position] = {}  # by contract id: one net position each
        self.orders: dict[int, Order] = {}  # working orders only
        self.trades = DayFills()  # today's fills by trade id, as integers (engine/compact.py)
        # the previous trading day's fills: a re-delivery after the reset is still known
        self.previous = DayFills()
        self.prices: dict[str, Decimal] = {}  # last quote per contract
        self.contracts: dict[str, tuple[Decimal, Decimal]] = dict(DEFAULT_CONTRACTS)
        self.now: dt.datetime = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        # trailing windows: fills ordered by ts (epoch ms) with their realized pnl (None = opening)
        self.fills = FillWindow()
        self._last_trade_ts = self.now
        self._trade_view: tuple[TradeEvent, bool, TradeView] | None = None  # the last one made
        self.fill_book = FillBook()  # one fill's Order, Trade and Position, in any order
        self.account_model = AccountModel(self.ctx)  # account.eod_high, mll, net, to_mll
        self.history = DayHistory(self.ctx)  # the closed days: week.*, days(N), long windows

    @property
    def account_id(self) -> int:
        return self.ctx.account.id

    # ---- contract info -----------------------------------------------------------------------
    def set_contract(self, symbol: str, tick_size: Decimal, tick_value: Decimal) -> None:
        if tick_size > 0 and tick_value > 0:
            self.contracts[symbol.upper()] = (tick_size, tick_value)
            for pos in self.positions.values():
                if pos.symbol == symbol.upper():
                    self._refresh_position(pos)
            self._refresh_totals()

    def tick_size(self, symbol: str) -> Decimal:
        info = self.contracts.get(symbol_of(symbol))
        return info[0] if info else ZERO

    def tick_value(self, symbol: str) -> Decimal:
        info = self.contracts.get(symbol_of(symbol))
        return info[1] if info else ZERO

    def contracts_of(self, symbol: str) -> int:
        root = symbol_of(symbol)
        return sum(p.size for p in self.positions.values() if p.symbol == root)

    def window(self, window_ms: int) -> int:
        """Index of the first fill in the trailing window (now - window, now]."""
        return self.fills.start(_epoch_ms(self.now) - window_ms)

    # ---- clock ---------------------------------------------------------------------------------
    def advance(self, ts: dt.datetime) -> bool:
        """Move the clock forward to ts (never back). True when it moved."""
        if ts <= self.now:
            return False
        self.now = ts
        return True

    # ---- events --------------------------------------------------------------------------------
    def apply_account(self, ev: AccountEvent) -> None:
        """A field the update left out (None) keeps its last known value."""
        view = self.ctx.account
        view.id = ev.id
        if ev.name is not None:
            view.name = ev.name
        if ev.balance is not None:
            view.balance = ev.balance
            self.account_model.on_balance()
        if ev.can_trade is not None:
            view.can_trade = ev.can_trade

    def apply_trade(self, ev: TradeEvent, by_rmdsl: bool = False) -> str:
        """Record a fill of today; a repeated id is a duplicate unless it newly voids the earlier
        one. `by_rmdsl`: a fill of rmdsl's own close: its P&L counts, it is not a trade of the
        trader's (docs/rules.md, "Whose trades")."""
        if ev.id in self.previous:
            return TradeResult.DUPLICATE  # yesterday's fill re-delivered: counted there
        known = self.trades.flags(ev.id)
        if known is not None:
            if ev.voided and not known & VOIDED:
                fees = self.trades[ev.id][4]
                self.trades[ev.id] = (ev.ts, ev.pnl, True, bool(known & OURS), fees)
                self._rebuild_day()
                return TradeResult.VOIDED
            return TradeResult.DUPLICATE
        self.trades[ev.id] = (ev.ts, ev.pnl, ev.voided, by_rmdsl, ev.fees)
        if ev.voided:
            return TradeResult.DUPLICATE  # a fill first seen voided never counted
        if ev.ts < self._last_trade_ts:
            self._rebuild_day()  # out of order: streaks and windows depend on the order
        else:
            self._last_trade_ts = ev.ts
            self._count(ev.pnl, ev.fees, not by_rmdsl)
            self.fills.add(_epoch_ms(ev.ts), ev.net_pnl, ev.is_close, not by_rmdsl)
            self._refresh_day()
        self._fill_seen(ev.contract_id, ev.side, self.fill_book.from_trade(ev), ev.ts)
        order = self.orders.get(ev.order_id)
        if order is not None and self.fill_book.filled(order.id) >= order.event.size:
            del self.orders[order.id]  # filled, whether or not its FILLED event came yet
            self._protect_contract(order.contract_id)
        return TradeResult.NEW

    def by_rmdsl(self, trade_id: int) -> bool:
        flags = self.trades.flags(trade_id)
        flags = self.previous.flags(trade_id) if flags is None else flags
        return bool(flags and flags & OURS)

    def reduce_by_fill(self, ev: TradeEvent) -> None:
        """A fill of a closed day that comes late still shrinks the position it closed."""
        self._fill_seen(ev.contract_id, ev.side, self.fill_book.from_trade(ev), ev.ts)

    def _fill_seen(self, contract_id: str, side: Side, volume: int, ts: dt.datetime) -> None:
        """A fill's first event (its Order or its Trade) shrinks the position at once, unless a
        position event already showed it (rmdsl.engine.fills).

        Without this, rules run on that event would see (and protect, or close) a position
        that the fill already closed: the gateway sends the order first (docs/engine.md).
        """
        pos = self.positions.get(contract_id)
        if volume <= 0 or self.fill_book.included(contract_id, side, volume, self.net(contract_id)):
            return
        if pos is None or side is not pos.closing_side or ts < pos.updated_at:
            return
        if volume >= pos.size:
            del self.positions[contract_id]
        else:
            pos.size -= volume
            self._refresh_position(pos)
        self._refresh_totals()

    def net(self, contract_id: str) -> int:
        """The signed net position of the contract as the state holds it (> 0 long)."""
        pos = self.positions.get(contract_id)
        if pos is None:
            return 0
        return pos.size if pos.long else -pos.size

    def _count(self, gross: Decimal | None, fees: Decimal, own: bool = True) -> None:
        count(self.ctx.day, gross, fees, own)

    def _rebuild_day(self) -> None:
        day = self.ctx.day
        day.realized_pnl = day.gross_pnl = day.fees = ZERO
        day.trades = day.wins = day.losses = day.consecutive_losses = 0
        self.fills.clear()
        # the peak is replayed from realized history in trade time: a voided or late fill must
        # not leave behind a peak that never existed (earlier unrealized excursions are lost)
        peak = ZERO
        for _, (ts, gross, voided, ours, fees) in self.trades.in_trade_time():
            if not voided:
                self._count(gross, fees, not ours)
                net = (gross if gross is not None else ZERO) - fees
                self.fills.add(_epoch_ms(ts), net, gross is not None, not ours)
                self._last_trade_ts = max(self._last_trade_ts, ts)
                peak = max(peak, day.realized_pnl)
        day.peak_pnl = peak
        self._refresh_day()

    def trade_view(self, ev: TradeEvent) -> TradeView:
        """The fill as the rules read it: made once per fill, not once per trade-scoped rule
        (a fill runs six in the catalogue); its fields are the event's and whose it is."""
        ours = self.by_rmdsl(ev.id)
        known = self._trade_view
        if known is not None and known[0] is ev and known[1] == ours:
            return known[2]
        view = self._make_trade_view(ev, ours)
        self._trade_view = (ev, ours, view)
        return view

    def _make_trade_view(self, ev: TradeEvent, ours: bool) -> TradeView:
        return TradeView(
            symbol=ev.symbol,
            side=ev.side.word,
            size=ev.size,
            price=ev.price,
            pnl=ev.net_pnl,
            gross_pnl=ev.pnl if ev.pnl is not None else ZERO,
            fees=ev.fees,
            is_close=ev.is_close,
            by_rmdsl=ours,
        )

    def apply_position(self, ev: PositionEvent) -> Position | None:
        """Open/update/close; returns the open position (None when closed or stale)."""
        pos = self.positions.get(ev.contract_id)
        if pos is not None and ev.ts < pos.updated_at:
            return pos  # stale: an older snapshot of a position we already know newer
        kind = ev.type
        if kind is PositionType.UNDEFINED and pos is not None and ev.size > 0:
            # type 0 (Undefined) does not close a position (only size 0 does): it keeps its side
            kind = PositionType.LONG if pos.long else PositionType.SHORT
        after = 0 if kind is PositionType.UNDEFINED else ev.size
        after = -after if kind is PositionType.SHORT else after
        self.fill_book.position(ev.contract_id, self.net(ev.contract_id), after)
        if ev.size <= 0 or kind is PositionType.UNDEFINED:  # closed, or no side ever known
            if pos is not None:
                del self.positions[ev.contract_id]
                self._refresh_totals()
            return None
        long = kind is PositionType.LONG
        if pos is None or pos.long != long:
            pos = Position(
                ev.id, ev.contract_id, ev.symbol, long, ev.size, ev.avg_price, ev.ts, ev.ts
            )
            self.positions[ev.contract_id] = pos
        else:
            pos.id, pos.size, pos.avg_price, pos.updated_at = ev.id, ev.size, ev.avg_price, ev.ts
        self._refresh_position(pos)
        self._refresh_protection(pos)
        self._refresh_totals()
        return pos

    def apply_order(self, ev: OrderEvent) -> Order | None:
        """Working orders are kept, others removed; returns the working order or None."""
        known = self.orders.get(ev.id)
        if known is not None and ev.ts < known.event.ts:
            return known  # stale update
        self._fill_seen(ev.contract_id, ev.side, self.fill_book.from_order(ev), ev.ts)
        if not ev.working:
            if known is not None:
                del self.orders[ev.id]
                self._protect_contract(ev.contract_id)
                exposure.refresh(self)
            return None
        placed = known.placed_at if known is not None else ev.ts
        order = Order(ev.id, ev.contract_id, ev.symbol, ev, placed)
        view = order.view
        view.symbol, view.type, view.side = ev.symbol, ev.type.word, ev.side.word
        view.size = ev.size
        view.price = ev.limit_price or ZERO
        view.stop_price = ev.stop_price or ZERO
        self.orders[ev.id] = order
        self._protect_contract(ev.contract_id)
        exposure.refresh(self)
        return order

    def closes_position(self, order: Order) -> bool:
        """The order is on the closing side of an open position and no larger than it."""
        pos = self.positions.get(order.contract_id)
        return (
            pos is not None
            and order.event.side is pos.closing_side
            and (order.event.size <= pos.size)
        )

    def apply_quote(self, ev: QuoteEvent) -> bool:
        """Store the price; True when an open position's P&L changed.

        An unchanged price changes nothing: every other change to a position's P&L (its
        size, its average, the contract's tick value) refreshes it where it happens."""
        prices = self.prices
        if prices.get(ev.contract_id) == ev.price:
            return False
        prices[ev.contract_id] = ev.price
        pos = self.positions.get(ev.contract_id)
        if pos is None:
            return False
        self._refresh_open_pnl(pos)  # a price moves only the P&L: no size, count or exposure
        self._refresh_pnl()
        return True

    # ---- derived views -------------------------------------------------------------------------
    def _refresh_position(self, pos: Position) -> None:
        view = pos.view
        view.symbol, view.contract_id, view.size = pos.symbol, pos.contract_id, pos.size
        view.side = "long" if pos.long else "short"
        view.avg_price = pos.avg_price
        self._refresh_open_pnl(pos)

    def _refresh_open_pnl(self, pos: Position) -> None:
        view = pos.view
        price = self.prices.get(pos.contract_id)
        size, value = self.contracts.get(pos.symbol, _NO_CONTRACT)
        if price is None or size == 0:
            view.unrealized_pnl = view.unrealized_ticks = ZERO
            return
        move = (price - pos.avg_price) if pos.long else (pos.avg_price - price)
        ticks = move / size
        view.unrealized_ticks = ticks
        view.unrealized_pnl = (ticks * value * pos.size).quantize(_CENT)

    def _protect_contract(self, contract_id: str) -> None:
        pos = self.positions.get(contract_id)
        if pos is not None:
            self._refresh_protection(pos)

    def _refresh_protection(self, pos: Position) -> None:
        tick = self.contracts.get(pos.symbol, (ZERO, ZERO))[0]
        pos.view.has_stop, pos.view.stop_ticks = protection(pos, self.orders.values(), tick)

    def _refresh_totals(self) -> None:
        pv = self.ctx.positions
        pv.count = len(self.positions)
        pv.contracts = pv.net_contracts = 0
        for pos in self.positions.values():
            pv.contracts += pos.size
            pv.net_contracts += pos.size if pos.long else -pos.size
        self._refresh_pnl()
        exposure.refresh(self)

    def _refresh_pnl(self) -> None:
        positions = self.positions
        if len(positions) == 1:  # the usual case: no generator to sum
            total = next(iter(positions.values())).view.unrealized_pnl
        else:
            total = sum((pos.view.unrealized_pnl for pos in positions.values()), ZERO)
        self.ctx.positions.unrealized_pnl = total
        self.ctx.day.unrealized_pnl = total
        self._refresh_day()

    def _refresh_day(self) -> None:
        day = self.ctx.day
        day.pnl = day.realized_pnl + day.unrealized_pnl
        if day.pnl > day.peak_pnl:
            day.peak_pnl = day.pnl
        day.drawdown = day.peak_pnl - day.pnl
        self.account_model.refresh()
        self.history.refresh()

    def bind_ages(self) -> None:
        """position.age / order.age are read relative to now: refresh before evaluating."""
        now = self.now
        for pos in self.positions.values():
            pos.view.age = ms_between(pos.opened_at, now)
        for order in self.orders.values():
            order.view.age = ms_between(order.placed_at, now)

    # ---- reset and restore ---------------------------------------------------------------------
    def reset_day(self) -> None:
        """A new trading day: counters cleared, today's trades become the previous day's (their
        ids stay known for one more day); open positions carry over."""
        self.previous = self.trades
        self.trades = DayFills()
        self.fills.clear()
        self.fill_book.clear()
        day = self.ctx.day
        day.realized_pnl = day.gross_pnl = day.fees = ZERO
        day.trades = day.wins = day.losses = day.consecutive_losses = 0
        day.peak_pnl = day.unrealized_pnl
        self._refresh_day()
        day.peak_pnl = day.pnl
        self.account_model.day_cleared()

    def replace_positions(self, events: tuple[PositionEvent, ...]) -> None:
        self.positions.clear()
        for ev in events:
            if ev.size > 0 and ev.type is not PositionType.UNDEFINED:
                self.apply_position(ev)
        self.fill_book.forget_credits()  # the broker's positions: they explain themselves
        self._refresh_totals()

    def replace_orders(self, events: tuple[OrderEvent, ...]) -> None:
        self.orders.clear()
        for ev in events:
            self.fill_book.from_order(ev)  # filled so far: the snapshot's positions hold it
            self.apply_order(ev)
        for pos in self.positions.values():
            self._refresh_protection(pos)
        exposure.refresh(self)
