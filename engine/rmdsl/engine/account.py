"""The account model: account.start_balance, eod_high, mll, net and to_mll (docs/language.md,
"Account").

Topstep's Maximum Loss Limit trails the highest END-OF-DAY balance, never moves
intraday and stops rising at the starting balance; a net balance (open P&L
included) at or below it means liquidation. So:

* `eod_high` is taken at each trading-day reset from the balance at that
  instant (kept in the state database, rmdsl.engine.history), and seeded at
  start from `params.start_eod_high` (else `params.account_size`): the higher of
  the seed and the kept value wins, so a seed can correct it upwards only.
* `mll = min(eod_high - params.mll_distance, start_balance)`: it changes when
  eod_high or the params change, never with an intraday balance.
* `net = balance + open P&L + the realized P&L the balance does not hold yet`:
  the gateway sends a fill's Trade, then its Position, then the Account with the
  new balance; between the two a winning close would otherwise look like a drop
  of its whole profit (a false MLL breach). The realized P&L counted since the
  last balance update is added until the next one.
* Until the gateway has reported a balance, `net` and `to_mll` are NaN: a rule that
  compares them fails loudly (a rule error, docs/engine.md) instead of seeing a $0
  account far below its MLL and flattening it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from rmdsl.lang.context import EvalContext
from rmdsl.lang.schema import ACCOUNT_SIZE, EOD_HIGH_SEED, MLL_DISTANCE

ZERO = Decimal(0)
UNKNOWN = Decimal("NaN")  # an ordering comparison with it raises InvalidOperation

# the params that configure the account model (a firm profile locks them with `stricter:`):
# account_size (the starting balance, e.g. $50000), mll_distance (how far below the end-of-day
# high the MLL trails, e.g. $2000), start_eod_high (the high on first start, else account_size)


def _money(params: Mapping[str, object], name: str) -> Decimal | None:
    value = params.get(name)
    return value if isinstance(value, Decimal) else None


class AccountModel:
    """Keeps the account.* views of one EvalContext current; the engine calls its hooks."""

    __slots__ = ("_anchor", "_ctx", "balance_known", "distance", "seed")

    def __init__(self, ctx: EvalContext) -> None:
        self._ctx = ctx
        self.distance: Decimal | None = None  # None: the ruleset sets no MLL
        self.seed = ZERO  # the eod_high the params give on a fresh account
        self.balance_known = False  # the gateway has reported a balance
        self._anchor = ZERO  # day.realized_pnl when the balance was last reported

    @property
    def eod_high(self) -> Decimal:
        return self._ctx.account.eod_high

    def set_params(self, params: Mapping[str, object]) -> None:
        """At start, at each reset and on a reload: the params in force."""
        view = self._ctx.account
        view.start_balance = _money(params, ACCOUNT_SIZE) or ZERO
        self.distance = _money(params, MLL_DISTANCE)
        self.seed = _money(params, EOD_HIGH_SEED) or view.start_balance
        view.eod_high = max(view.eod_high, self.seed)
        self._refresh_mll()

    def restore(self, eod_high: Decimal | None) -> None:
        """The end-of-day high kept in the state database (None on a fresh account)."""
        view = self._ctx.account
        view.eod_high = max(eod_high or ZERO, self.seed)
        self._refresh_mll()

    def on_balance(self) -> None:
        """The gateway reported a balance: it holds every fill counted so far."""
        self.balance_known = True
        self._anchor = self._ctx.day.realized_pnl
        self.refresh()

    def take_eod(self) -> bool:
        """At the reset, before the day's counters clear: the balance at this instant is the
        day's end-of-day balance. True when it raised eod_high (and with it maybe the MLL)."""
        view = self._ctx.account
        raised = self.balance_known and view.balance > view.eod_high
        if raised:
            view.eod_high = view.balance
            self._refresh_mll()
        return raised

    def day_cleared(self) -> None:
        """After the reset: day.realized_pnl restarts at 0, the balance keeps what it held."""
        self._anchor = ZERO
        self.refresh()

    def holds_missed(self, net: Decimal) -> None:
        """A reconcile's balance already holds fills not counted yet (their `net`): while
        they are caught up one by one, net moves as it did live instead of counting them twice."""
        self._anchor = self._ctx.day.realized_pnl + net
        self.refresh()

    def rebase(self) -> None:
        """After fills were counted that the last balance already held (a restore, a
        catch-up after a reconcile whose snapshot brought the balance)."""
        self._anchor = self._ctx.day.realized_pnl
        self.refresh()

    def _refresh_mll(self) -> None:
        view = self._ctx.account
        if self.distance is None:
            view.mll = ZERO
        else:
            trail = view.eod_high - self.distance
            view.mll = min(trail, view.start_balance) if view.start_balance > 0 else trail
        view.to_mll = view.net - view.mll

    def refresh(self) -> None:
        """net and to_mll: on every balance, fill and open-P&L change (a few Decimal adds)."""
        ctx = self._ctx
        view = ctx.account
        if not self.balance_known:
            view.net = view.to_mll = UNKNOWN
            return
        view.net = view.balance + (ctx.day.realized_pnl - self._anchor) + ctx.day.unrealized_pnl
        view.to_mll = view.net - view.mll
