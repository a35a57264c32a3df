"""Run one ruleset test case: its events and steps through an OfflineRun, the checks of each
`expect`, and the rule errors, as located problems (docs/engine.md, "`rmdsl test`").

A case with a `restart` step runs on the real SQLite store in a temporary file from its
start, so the restart restores exactly what the daemon would. Actions are checked per
`expect`: each one covers what fired since the previous one (the case's own `expect`
covers what is left at the end).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rmdsl.contract.broker import Snapshot
from rmdsl.contract.events import (
    ClockEvent,
    ConnectionEvent,
    ConnectionState,
    PositionEvent,
    PositionType,
)
from rmdsl.engine.ruleerrors import RuleError
from rmdsl.rules.model import Ruleset
from rmdsl.tooling.offline import OfflineRun, quiet_engine_logs
from rmdsl.tooling.ruletest import TestCase, initial_quotes, snapshot_of
from rmdsl.tooling.testcheck import Checker
from rmdsl.tooling.testevents import Located
from rmdsl.tooling.teststeps import Expectation, Step

Problem = tuple[int, str]


class CaseRun:
    """One case; `rulesets` holds every `reload:` file, loaded and checked beforehand."""

    def __init__(self, ruleset: Ruleset, case: TestCase, rulesets: Mapping[Path, Ruleset]):
        self.ruleset, self.case, self.rulesets = ruleset, case, rulesets
        self.errors: dict[str, tuple[RuleError, int]] = {}  # rule -> (first error, count)
        self.expected_errors: set[str] = set()  # rules an `expect.errors` says have erred
        self.checker = Checker(case)
        self.db: Path | None = None
        self.run: OfflineRun

    async def execute(self) -> tuple[list[Problem], OfflineRun]:
        restarts = any(isinstance(i, Step) and i.kind == "restart" for i in self.case.events)
        with quiet_engine_logs(), tempfile.TemporaryDirectory(prefix="rmdsl-test-") as tmp:
            self.db = Path(tmp) / "state.db" if restarts else None
            self.run = await OfflineRun(
                self.ruleset, self.case.start, store=await self._store()
            ).start()
            try:
                await self._body()
            finally:
                if self.db is not None:
                    await self.run.engine.stop()  # closes the store before its folder goes
        problems = self.checker.problems
        problems += [
            self._error_problem(first, n)
            for rule, (first, n) in self.errors.items()
            if rule not in self.expected_errors
        ]
        return problems, self.run

    async def _store(self) -> Any:
        if self.db is None:
            return None
        from rmdsl.store import SqliteStore

        store = SqliteStore(self.db)
        await store.open()
        return store

    async def _body(self) -> None:
        case, run = self.case, self.run
        if case.initial:
            for quote in initial_quotes(case.initial):
                run.engine.state.apply_quote(quote)  # type: ignore[arg-type]
            snap = snapshot_of(case.initial, run.engine.state, case.start)
            await run.reconcile(snap, case.initial[0].line)
        for item in case.events:
            if isinstance(item, Located):
                await self.run.feed(item.events(self.run.engine.state), item.line)
            else:
                await self._step(item)
        await self.run.finish()
        self._check(case.expect)

    # ---- steps --------------------------------------------------------------------------------
    async def _step(self, step: Step) -> None:
        if step.ts > self.run.engine.state.now:  # the step's instant, as a clock event would
            await self.run.feed(ClockEvent(step.ts), step.line)
        if step.kind == "reload":
            assert step.path is not None
            await self.run.swap(self.rulesets[step.path], step.line)
        elif step.kind == "restart":
            await self._restart(step)
        elif step.kind == "disconnect":
            await self.run.feed(ConnectionEvent(ConnectionState.DISCONNECTED, step.ts), step.line)
        elif step.kind == "reconnect":
            await self.run.reconcile(self._snapshot(step), step.line, catch_up=True)
        elif step.kind == "fail":
            self.run.broker.inject_failure(step.call, step.times, step.error)
        else:
            assert step.expect is not None
            await self.run.finish()
            self._check(step.expect)

    def _check(self, exp: Expectation) -> None:
        """The expectation now; a rule in its `errors` must have erred by now, and its
        errors are then expected (the test documents a rule error) rather than problems."""
        self._tally_errors()
        self.checker.check(exp, self.run, self._errored())
        for line, _col, rule in exp.errors:
            self.expected_errors.add(rule)
            if rule not in self.errors:
                self.checker.problems.append((line, f"expected an error of rule {rule}: none"))

    def _snapshot(self, step: Step) -> Snapshot:
        """The broker's view: the step's own, else what the engine last saw (nothing moved)."""
        state = self.run.engine.state
        if step.snapshot is not None:
            items = list(step.snapshot)
            for quote in initial_quotes(items):
                state.apply_quote(quote)  # type: ignore[arg-type]
            return snapshot_of(items, state, step.ts)
        base = snapshot_of([], state, step.ts)
        positions = tuple(
            PositionEvent(
                p.id,
                state.account_id,
                p.contract_id,
                p.opened_at,  # the same position: its grace keeps counting from its open
                PositionType.LONG if p.long else PositionType.SHORT,
                p.size,
                p.avg_price,
            )
            for p in state.positions.values()
        )
        orders = tuple(o.event for o in state.orders.values())
        return Snapshot(base.account, positions, orders, ())

    async def _restart(self, step: Step) -> None:
        """Stop (the engine saves its state), start a new engine from the same SQLite file,
        then reconcile with the broker, as `rmdsl run` does after a restart."""
        old = self.run
        await old.finish()
        self._tally_errors()
        snapshot = self._snapshot(step)
        await old.engine.stop()
        self.run = old.restarted(old.engine.ruleset, step.ts, await self._store())
        await self.run.start()
        await self.run.reconcile(snapshot, step.line, catch_up=True)

    # ---- rule errors --------------------------------------------------------------------------
    def _tally_errors(self) -> None:
        """Move the engine's error tally here (a restart starts a new engine)."""
        errors = self.run.engine.evaluator.errors
        for rule_id, count in errors.counts.items():
            first, before = self.errors.get(rule_id, (errors.first[rule_id], 0))
            self.errors[rule_id] = (first, before + count)
        errors.counts.clear()
        errors.first.clear()

    def _errored(self) -> set[str]:
        return set(self.errors)

    def _error_problem(self, first: RuleError, count: int) -> Problem:
        line = next(
            (
                f.line or 0
                for f in self.run.fired
                if str(f.record.outcome) == "error" and f.record.rule_name == first.rule_id
            ),
            0,
        )
        when = first.ts.astimezone(self.case.tz).strftime("%H:%M:%S")
        times = "once" if count == 1 else f"{count} times"
        return line, f"error: {first.describe()} ({times}, first at {when}); {first.consequence}"
