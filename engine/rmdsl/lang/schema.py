"""The one declaration of what the language knows: names, actions, scopes, triggers (and,
in rmdsl.lang.functions, the functions).

It drives the checker, the compiler's attribute paths, `rmdsl schema`, the
generated docs/language.md and the editor JSON Schema. Names map 1:1 to
attributes of rmdsl.lang.context.EvalContext (`day.realized_pnl` is read as
`ctx.day.realized_pnl`; `now` alone is `ctx.now.value`; `symbol` is `ctx.symbol`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from rmdsl.lang.types import (
    BOOL,
    DATE,
    DATETIME,
    DURATION,
    INT,
    MONEY,
    NUMBER,
    STRING,
    TIME,
    WEEKDAY,
    Type,
)


class Scope(enum.StrEnum):
    ACCOUNT = "account"
    POSITION = "position"
    TRADE = "trade"
    ORDER = "order"
    SYMBOL = "symbol"


class Trigger(enum.StrEnum):
    FILL = "fill"  # every fill (GatewayUserTrade)
    TRADE = "trade"  # a fill that closes (realizes P&L)
    POSITION = "position"
    ORDER = "order"
    QUOTE = "quote"
    ACCOUNT = "account"
    CLOCK = "clock"


ALL_TRIGGERS = frozenset(Trigger)
_T = Trigger


@dataclass(frozen=True, slots=True)
class NameSpec:
    path: str  # "day.realized_pnl"
    type: Type
    doc: str
    triggers: frozenset[Trigger]
    scope: Scope | None = None  # None: readable in every scope
    attr: str | None = None  # attribute path on EvalContext when it differs from `path`

    @property
    def attr_path(self) -> str:
        return self.attr or self.path


def _n(
    path: str,
    typ: Type,
    doc: str,
    triggers: set[Trigger],
    scope: Scope | None = None,
    attr: str | None = None,
) -> NameSpec:
    return NameSpec(path, typ, doc, frozenset(triggers), scope, attr)


# the params the account.* names read (rmdsl.engine.account): used even when no rule names them
ACCOUNT_SIZE, MLL_DISTANCE, EOD_HIGH_SEED = "account_size", "mll_distance", "start_eod_high"
ACCOUNT_PARAMS = frozenset({ACCOUNT_SIZE, MLL_DISTANCE, EOD_HIGH_SEED})

_PNL = {_T.FILL, _T.TRADE}
_LIVE = {_T.POSITION, _T.QUOTE}
PNL_TRIGGERS = frozenset(_PNL)  # what a P&L changes on (fills, closing trades)
LIVE_TRIGGERS = frozenset(_LIVE)  # what open P&L changes on (positions, quotes)
_POS = Scope.POSITION
_ACCT_LIVE = _PNL | _LIVE | {_T.ACCOUNT}

NAMES: Mapping[str, NameSpec] = {
    spec.path: spec
    for spec in (
        _n("account.id", INT, "the gateway's account id", {_T.ACCOUNT}),
        _n("account.name", STRING, "the account name", {_T.ACCOUNT}),
        _n("account.balance", MONEY, "the account balance", {_T.ACCOUNT}),
        _n("account.can_trade", BOOL, "false when the gateway disallows trading", {_T.ACCOUNT}),
        _n(
            "account.start_balance",
            MONEY,
            'the account size: params.account_size (docs/language.md, "Account")',
            {_T.ACCOUNT},
        ),
        _n(
            "account.eod_high",
            MONEY,
            "the highest end-of-day balance: taken at each reset, kept across restarts",
            {_T.ACCOUNT, _T.CLOCK},
        ),
        _n(
            "account.mll",
            MONEY,
            "the trailing Maximum Loss Limit: eod_high - params.mll_distance, never above "
            "start_balance; moves only at the reset",
            {_T.ACCOUNT, _T.CLOCK},
        ),
        _n("account.net", MONEY, "balance + open P&L of all positions", _ACCT_LIVE),
        _n("account.to_mll", MONEY, "account.net - account.mll: the room left", _ACCT_LIVE),
        _n(
            "day.realized_pnl",
            MONEY,
            "realized P&L since the last reset, net: day.gross_pnl - day.fees",
            _PNL,
        ),
        _n("day.gross_pnl", MONEY, "the gateway's profitAndLoss of today's closing fills", _PNL),
        _n("day.fees", MONEY, "fees of today's fills, opening fills included", _PNL),
        _n("day.unrealized_pnl", MONEY, "open P&L of all positions", _LIVE),
        _n("day.pnl", MONEY, "realized + unrealized", _PNL | _LIVE),
        _n("day.peak_pnl", MONEY, "highest day.pnl since the reset", _PNL | _LIVE),
        _n("day.drawdown", MONEY, "day.peak_pnl - day.pnl", _PNL | _LIVE),
        _n("day.trades", INT, "the trader's closing fills since the reset (not rmdsl's)", _PNL),
        _n("day.wins", INT, "the trader's closing fills with trade.pnl (net) > 0", _PNL),
        _n("day.losses", INT, "the trader's closing fills with trade.pnl (net) < 0", _PNL),
        _n("day.consecutive_losses", INT, "the trader's losing closes in a row", _PNL),
        _n(
            "week.realized_pnl",
            MONEY,
            "net realized P&L of the trading week so far (week_start), today included",
            _PNL,
        ),
        _n("week.pnl", MONEY, "week.realized_pnl + open P&L", _PNL | _LIVE),
        _n("positions.count", INT, "open positions", {_T.POSITION}),
        _n("positions.contracts", INT, "gross open contracts", {_T.POSITION}),
        _n("positions.net_contracts", INT, "long minus short contracts", {_T.POSITION}),
        _n("positions.unrealized_pnl", MONEY, "open P&L of all positions", _LIVE),
        _n("position.symbol", STRING, "symbol root (MNQ)", {_T.POSITION}, _POS),
        _n("position.contract_id", STRING, "CON.F.US.MNQ.Z25", {_T.POSITION}, _POS),
        _n("position.side", STRING, '"long" or "short"', {_T.POSITION}, _POS),
        _n("position.size", INT, "contracts", {_T.POSITION}, _POS),
        _n("position.avg_price", NUMBER, "average entry price", {_T.POSITION}, _POS),
        _n("position.unrealized_pnl", MONEY, "open P&L", _LIVE, _POS),
        _n("position.unrealized_ticks", NUMBER, "open P&L in ticks per contract", _LIVE, _POS),
        _n("position.age", DURATION, "time since opened", {_T.POSITION, _T.CLOCK}, _POS),
        _n(
            "position.has_stop",
            BOOL,
            "a working stop order protects it",
            {_T.POSITION, _T.ORDER},
            _POS,
        ),
        _n(
            "position.stop_ticks",
            NUMBER,
            "entry to the tightest stop in ticks, negative once it locks in profit (0 if none)",
            {_T.POSITION, _T.ORDER},
            _POS,
        ),
        _n("trade.symbol", STRING, "symbol root", _PNL, Scope.TRADE),
        _n("trade.side", STRING, '"buy" or "sell"', _PNL, Scope.TRADE),
        _n("trade.size", INT, "contracts filled", _PNL, Scope.TRADE),
        _n("trade.price", NUMBER, "fill price", _PNL, Scope.TRADE),
        _n(
            "trade.pnl",
            MONEY,
            "net: trade.gross_pnl - trade.fees (an opening fill's is -fees)",
            _PNL,
            Scope.TRADE,
        ),
        _n(
            "trade.gross_pnl",
            MONEY,
            "the gateway's profitAndLoss (gross); 0 for opening fills",
            _PNL,
            Scope.TRADE,
        ),
        _n("trade.fees", MONEY, "fees of the fill (every fill has them)", _PNL, Scope.TRADE),
        _n("trade.is_close", BOOL, "the fill closed (part of) a position", _PNL, Scope.TRADE),
        _n(
            "trade.by_rmdsl",
            BOOL,
            "the fill is of a close rmdsl sent (close, reduce, flatten, lockout), not the trader's",
            _PNL,
            Scope.TRADE,
        ),
        _n("order.symbol", STRING, "symbol root", {_T.ORDER}, Scope.ORDER),
        _n(
            "order.type",
            STRING,
            "limit|market|stop_limit|stop|trailing_stop|join_bid|join_ask",
            {_T.ORDER},
            Scope.ORDER,
        ),
        _n("order.side", STRING, '"buy" or "sell"', {_T.ORDER}, Scope.ORDER),
        _n("order.size", INT, "contracts", {_T.ORDER}, Scope.ORDER),
        _n("order.price", NUMBER, "limit price (0 if none)", {_T.ORDER}, Scope.ORDER),
        _n("order.stop_price", NUMBER, "stop price (0 if none)", {_T.ORDER}, Scope.ORDER),
        _n("order.age", DURATION, "time since placed", {_T.ORDER, _T.CLOCK}, Scope.ORDER),
        _n(
            "symbol",
            STRING,
            "the symbol root a symbol-scoped rule is evaluated for",
            {_T.POSITION},
            Scope.SYMBOL,
        ),
        _n("now", DATETIME, "the current instant", {_T.CLOCK}, attr="now.value"),
        _n("now.time", TIME, "time of day in the ruleset's timezone", {_T.CLOCK}),
        _n("now.date", DATE, "date in the ruleset's timezone", {_T.CLOCK}),
        _n("now.weekday", WEEKDAY, "weekday in the ruleset's timezone", {_T.CLOCK}),
        _n("session.open", BOOL, "inside session hours on a trading day", {_T.CLOCK}),
        _n(
            "session.ends_in", DURATION, "time until the session closes (0 when closed)", {_T.CLOCK}
        ),
        _n(
            "session.fills",
            INT,
            "the trader's fills since the current (or last) session opened (not rmdsl's)",
            _PNL | {_T.CLOCK},
        ),
    )
}


class UntilKind(enum.StrEnum):
    RESET = "reset"
    SESSION_START = "session_start"
    CAN_TRADE = "can_trade"  # until the gateway reports the account can trade again


@dataclass(frozen=True, slots=True)
class ArgSpec:
    name: str
    type: Type  # DURATION args of `until` also accept the words of UntilKind
    required: bool = True
    accepts_until_words: bool = False


@dataclass(frozen=True, slots=True)
class ActionSpec:
    name: str
    args: tuple[ArgSpec, ...]
    scopes: frozenset[Scope] | None  # None: any scope
    doc: str
    positional: str | None = None  # the arg a single positional value fills: cooldown(5m)


_UNTIL = ArgSpec("until", DURATION, accepts_until_words=True)
_POSITIONAL_SCOPES = frozenset({Scope.POSITION, Scope.TRADE, Scope.SYMBOL})


def _ticks_order(name: str, doc: str) -> ActionSpec:
    """An action placing an order N ticks from a position's entry: `attach_stop(10)`."""
    return ActionSpec(name, (ArgSpec("ticks", INT),), frozenset({Scope.POSITION}), doc, "ticks")


ACTIONS: Mapping[str, ActionSpec] = {
    a.name: a
    for a in (
        ActionSpec("close_position", (), _POSITIONAL_SCOPES, "close the scoped position"),
        ActionSpec(
            "reduce_position",
            (ArgSpec("to", INT),),
            _POSITIONAL_SCOPES | {Scope.ACCOUNT},
            "partially close down to N contracts (account scope: gross, newest first)",
            "to",
        ),
        ActionSpec("flatten", (), None, "close every position and cancel every working order"),
        ActionSpec("cancel_orders", (), None, "cancel the scoped order, or all working orders"),
        ActionSpec(
            "lockout", (_UNTIL,), None, "flatten now and keep the account flat until ...", "until"
        ),
        ActionSpec("cooldown", (ArgSpec("for", DURATION),), None, "lockout(until: D)", "for"),
        ActionSpec(
            "pause",
            (_UNTIL,),
            None,
            "block new trading until ...: open positions are kept, new orders cancelled",
            "until",
        ),
        ActionSpec(
            "block_symbol",
            (_UNTIL,),
            _POSITIONAL_SCOPES | {Scope.ORDER},
            "lockout for the scoped symbol only",
            "until",
        ),
        _ticks_order("attach_stop", "place a protective stop N ticks from entry"),
        _ticks_order("attach_target", "place a take-profit limit N ticks from entry"),
        ActionSpec(
            "trail_stop",
            (ArgSpec("ticks", INT), ArgSpec("after", INT, required=False)),
            frozenset({Scope.POSITION}),
            "trail the stop N ticks behind the best price once M ticks in profit",
        ),
        ActionSpec(
            "breakeven",
            (),
            frozenset({Scope.POSITION}),
            "move the stop to the entry price (place one if none); never loosens a stop",
        ),
        ActionSpec("alert", (), None, "notify only"),
    )
}

# How actions rank when several rules fire on one event: the stronger wins (docs/rules.md).
ACTION_STRENGTH: Mapping[str, int] = {
    "lockout": 100,
    "cooldown": 100,
    "flatten": 90,
    "pause": 85,
    "block_symbol": 80,
    "close_position": 70,
    "reduce_position": 60,
    "cancel_orders": 50,
    "trail_stop": 20,
    "breakeven": 20,
    "attach_stop": 20,
    "attach_target": 10,
    "alert": 0,
}
