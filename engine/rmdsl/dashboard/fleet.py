"""The accounts one daemon supervises, as /metrics, the page and `rmdsl status` see them.

Every per-account view (metrics labelled `account`, the page's fleet table)
reads the daemon through `accounts_of`, so the observation side does not
depend on how the daemon keeps its accounts: one engine (the single-account
daemon) or one supervisor per account.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from rmdsl.dashboard.feed import DaemonFeed
from rmdsl.metrics import Metrics

if TYPE_CHECKING:
    from rmdsl.enforce.goals import Goal
    from rmdsl.engine.core import Engine
    from rmdsl.reconciler import Reconciler


class Supervised(Protocol):
    """What the daemon tells of one account it supervises."""

    @property
    def engine(self) -> Engine | None: ...

    @property
    def feed(self) -> DaemonFeed: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def reconciler(self) -> Reconciler | None: ...


@dataclass(frozen=True, slots=True)
class AccountView:
    """One supervised account: its id, the name the config gave, its engine (None while it
    starts), whether its decisions run on reconciled state, its feed (enforcement records,
    reloads) and its metrics (one account's, or the daemon's shared by all)."""

    account_id: int
    name: str
    engine: Engine | None
    reconciled: bool
    unreconciled_since: dt.datetime | None
    feed: DaemonFeed
    metrics: Metrics

    @property
    def label(self) -> str:
        """The `account` label: the account's name, its id when it has none."""
        return self.name or str(self.account_id)

    @property
    def locked(self) -> bool:
        return self.engine is not None and self.engine.lockouts.account_locked

    @property
    def overdue_goals(self) -> int:
        """Enforcement goals past their deadline now (the "target not reached" alert)."""
        if self.engine is None:
            return 0
        now = self.engine.state.now
        return sum(1 for goal in _goals(self.engine) if now >= goal.deadline)

    @property
    def open_goals(self) -> int:
        return 0 if self.engine is None else len(list(_goals(self.engine)))


def _goals(engine: Engine) -> Iterable[Goal]:
    """The enforcer's goals (rmdsl.enforce.goals.GoalBook); an enforcer without them (a
    test's) has none. The engine's EnforcerPort does not name them: read, never changed."""
    book: Iterable[Goal] = getattr(engine.enforcer, "goals", ())
    return book


def view_of(account_id: int, name: str, supervised: Supervised) -> AccountView:
    reconciler = supervised.reconciler
    return AccountView(
        account_id,
        name,
        supervised.engine,
        reconciler is not None and reconciler.reconciled,
        reconciler.unreconciled_since if reconciler is not None else None,
        supervised.feed,
        supervised.metrics,
    )


def accounts_of(daemon: Any) -> list[AccountView]:
    """Every account the daemon supervises, ordered by label.

    A daemon with `accounts` (id -> supervisor with `.name`, `.engine`, `.reconciled`)
    supervises many; otherwise the daemon itself is the one account.
    """
    many: dict[int, Any] | None = getattr(daemon, "accounts", None)
    if many is not None:
        views = [view_of(aid, str(getattr(s, "name", "") or ""), s) for aid, s in many.items()]
    elif daemon.engine is not None:
        engine = daemon.engine
        views = [view_of(engine.state.account_id, engine.state.ctx.account.name, daemon)]
    else:
        views = []
    return sorted(views, key=lambda v: v.label)


def find(views: Iterable[AccountView], wanted: str) -> AccountView | None:
    """The account of a name or an id (the page's `?account=`)."""
    for view in views:
        if wanted in (view.name, str(view.account_id)):
            return view
    return None
