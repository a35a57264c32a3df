"""End-to-end helpers: the e2e ruleset, waiting, a live daemon handle, a tapping store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rmdsl.broker.simgateway import SimGateway
from rmdsl.broker.simgateway.orders import SimOrder
from rmdsl.daemon import Daemon
from rmdsl.demo.sim import SimAccount
from rmdsl.engine.persistence import EnforcementRecord, RecordEnforcement, Write
from rmdsl.notify import CollectingNotifier
from rmdsl.store import SqliteStore

RULES = Path(__file__).resolve().parent / "e2e_rules.yaml"
WAIT_S = 5.0


async def wait_until(
    predicate: Callable[[], bool], timeout: float = WAIT_S, what: str = "condition"
) -> None:
    """Poll (the daemon runs in this loop) until predicate() holds; fail after timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Live:
    """One running daemon on one simulated account."""

    sim: SimAccount
    daemon: Daemon
    store_path: Path
    notifier: CollectingNotifier

    @property
    def gw(self) -> SimGateway:
        return self.sim.gw

    def history(self) -> list[EnforcementRecord]:
        """Enforcement records written so far, oldest first (read from the live store)."""
        return list(reversed(self._records))

    @property
    def _records(self) -> list[EnforcementRecord]:
        return self.daemon.store.recorded  # type: ignore[attr-defined, no-any-return]

    async def wait_for_record(
        self, rule: str, timeout: float = WAIT_S, outcome: str | None = None
    ) -> EnforcementRecord:
        def found() -> EnforcementRecord | None:
            for rec in self.history():
                if rec.rule_name == rule and (outcome is None or rec.outcome == outcome):
                    return rec
            return None

        await wait_until(lambda: found() is not None, timeout, f"an enforcement by {rule}")
        rec = found()
        assert rec is not None
        return rec


class TapStore(SqliteStore):
    """The SQLite store, remembering the enforcement records it committed (for assertions)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.recorded: list[EnforcementRecord] = []

    async def apply(self, writes: Sequence[Write]) -> None:
        await super().apply(writes)  # every write comes here, the engine's batches too
        for write in writes:
            if isinstance(write, RecordEnforcement):
                self.recorded.insert(0, write.record)


StartDaemon = Callable[..., Awaitable[Live]]


def short_grace_ruleset(tmp_path: Path, grace: str = "2s") -> Path:
    """The e2e ruleset with a short NoStopLossGrace (a child file extending it)."""
    path = tmp_path / "short-grace.yaml"
    path.write_text(
        f"rmdsl: 1\nname: e2e-short-grace\nextends: {RULES}\n"
        f"rules:\n  no_stop_loss_grace:\n    grace: {grace}\n",
        encoding="utf-8",
    )
    return path


# -- the shipped catalogue end to end (test_catalogue_e2e.py) ------------------------

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = REPO / "rulesets" / "topstep.yaml"
MANAGED = REPO / "examples" / "tests" / "rulesets" / "topstep-managed.yaml"


def catalogue_child(tmp_path: Path, body: str, parent: Path = CATALOGUE) -> Path:
    """A child ruleset extending a shipped one (absolute path) that only sets `body`."""
    path = tmp_path / "child.yaml"
    path.write_text(f"rmdsl: 1\nname: child\nextends: {parent}\n{body}", encoding="utf-8")
    return path


def working_orders(gw: SimGateway, symbol: str) -> list[SimOrder]:
    """The orders working on the gateway in `symbol`'s contract."""
    return gw.market.book.working(gw.market.resolve_contract(symbol).contract_id)


async def stored_enforcements(live: Live) -> list[EnforcementRecord]:
    """The enforcement history as the state db holds it (read beside the running daemon)."""
    async with SqliteStore(live.store_path, readonly=True) as store:
        return await store.recent_enforcements(limit=1000)
