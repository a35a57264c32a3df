"""Rule evaluation: (event kind, state) -> Firings, with `for:` timers and the no-stop grace.

Only rules whose triggers match the event run, once per scoped entity. A rule
fires on the rising edge of its condition per (rule, entity) and re-arms when
the condition is seen false (docs/engine.md, "When a rule fires").
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field, replace

from rmdsl.contract.events import (
    AccountEvent,
    ClockEvent,
    Event,
    OrderEvent,
    PositionEvent,
    QuoteEvent,
    TradeEvent,
)
from rmdsl.engine import scopes
from rmdsl.engine.persistence import TimerRecord
from rmdsl.engine.ruleerrors import RuleError, RuleErrors, error_text, where_of
from rmdsl.engine.state import AccountState
from rmdsl.engine.timers import Timers, timer_key
from rmdsl.lang.context import EvalContext
from rmdsl.lang.format import format_value, type_named
from rmdsl.lang.schema import NAMES, Scope, Trigger
from rmdsl.lang.types import BOOL, DURATION, STRING, Type
from rmdsl.metrics import RULE_ALERT_MS, Metrics, Series
from rmdsl.rules.model import Action, NoStopLossGrace, Rule, Ruleset

GRACE_ID = NoStopLossGrace.ID


@dataclass(frozen=True, slots=True)
class Firing:
    """One rule firing for one entity, with what made it fire (values) and its message."""

    rule_id: str
    severity: str
    actions: tuple[Action, ...]
    scope: Scope
    entity: str  # "account", a contract id, a symbol, "order:<id>", "trade:<id>"
    ts: dt.datetime
    received_ns: int
    message: str
    values: dict[str, str] = field(default_factory=dict)
    contract_id: str | None = None
    symbol: str | None = None
    order_id: int | None = None
    shown: dict[str, str] = field(default_factory=dict)  # the values as the language writes them


@dataclass(frozen=True, slots=True)
class _Plan:
    """A rule as the hot loop runs it: what `_run_rule` would otherwise look up per entity."""

    rule: Rule
    series: Series  # the rule's evaluation times (Metrics.rule_series)
    prefix: str  # "<rule id>|": a latch or timer key is the prefix and the entity
    attribute: str | None  # the EvalContext attribute that binds its entities (scopes)
    scope: str  # the scope's name: a str key is cheaper to look up than the enum


@dataclass(slots=True)
class TimerChanges:
    """Timers started/cancelled during one step: the engine persists them before acting."""

    started: list[TimerRecord] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)


def triggers_of(event: Event) -> frozenset[Trigger]:
    if isinstance(event, TradeEvent):
        return _TRADE_CLOSE if event.pnl is not None else _TRADE_OPEN
    return _TRIGGERS.get(type(event), frozenset())


_AGES = frozenset(("position.age", "order.age"))
_TRADE_OPEN = frozenset((Trigger.FILL,))
_TRADE_CLOSE = frozenset((Trigger.FILL, Trigger.TRADE))
_TRIGGERS: dict[type, frozenset[Trigger]] = {
    QuoteEvent: frozenset((Trigger.QUOTE,)),
    OrderEvent: frozenset((Trigger.ORDER,)),
    PositionEvent: frozenset((Trigger.POSITION,)),
    AccountEvent: frozenset((Trigger.ACCOUNT,)),
    ClockEvent: frozenset((Trigger.CLOCK,)),
}


class Evaluator:
    """Holds the rule index, the `for:` timers, the grace timers and the rising-edge latches."""

    def __init__(self, ruleset: Ruleset, state: AccountState, metrics: Metrics) -> None:
        self.state = state
        self.metrics = metrics
        self.timers = Timers()
        self.latched: set[str] = set()
        self.errors = RuleErrors()  # drained and reported by the engine after each step
        self.set_ruleset(ruleset)

    def set_ruleset(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.grace = ruleset.no_stop_loss_grace
        self.rules = {r.id: r for r in ruleset.rules if r.enabled}
        self.input_types = _input_types(ruleset)
        # position.age / order.age are worked out before a step's rules only when a condition
        # reads one (a firing's message and actions read them current: _fire)
        self.reads_ages = any(n in _AGES for r in self.rules.values() for n, _ in r.inputs)
        self.by_trigger: dict[Trigger, tuple[Rule, ...]] = {
            t: tuple(r for r in self.rules.values() if t in r.triggers) for t in Trigger
        }
        self._plans = {rid: self._plan(r) for rid, r in self.rules.items()}
        # a set of triggers -> the rules it runs, each once: made at the first event of the
        # set, in the order evaluate() always ran them (the triggers', then the rules')
        self._runs: dict[frozenset[Trigger], tuple[_Plan, ...]] = {}
        self._step: dict[str, scopes.Listed] = {}  # this step's entities by scope
        for key in [k for k in self.latched if k.split("|", 1)[0] not in self.rules]:
            self.latched.discard(key)

    # ---- evaluation ------------------------------------------------------------------------
    def evaluate(self, event: Event, changes: TimerChanges) -> list[Firing]:
        """Run the rules matching the event's triggers, once per entity."""
        firings: list[Firing] = []
        if self.reads_ages:
            self.state.bind_ages()
        triggers = triggers_of(event)
        run = self._runs.get(triggers)
        if run is None:
            run = self._runs[triggers] = self._run_of(triggers)
        self._step = {}
        for plan in run:
            self._run_rule(plan, event, changes, firings)
        return firings

    def evaluate_all(self, changes: TimerChanges) -> list[Firing]:
        """Every rule except trade-scoped ones (after reconcile, restore or a reload)."""
        firings: list[Firing] = []
        self._step = {}
        for plan in self._plans.values():
            if plan.rule.scope is not Scope.TRADE:
                self._run_rule(plan, None, changes, firings)
        return firings

    def _plan(self, rule: Rule) -> _Plan:
        series = self.metrics.rule_series(rule.id)
        scope = rule.scope
        return _Plan(rule, series, timer_key(rule.id, ""), scopes.ATTRIBUTE.get(scope), str(scope))

    def _run_of(self, triggers: frozenset[Trigger]) -> tuple[_Plan, ...]:
        ids = dict.fromkeys(r.id for t in triggers for r in self.by_trigger[t])
        # a trade-scoped rule has an entity only at a fill (scopes.listed): not run at others
        fill = Trigger.FILL in triggers
        return tuple(
            self._plans[rid] for rid in ids if fill or self.rules[rid].scope is not Scope.TRADE
        )

    def _run_rule(
        self, plan: _Plan, event: Event | None, changes: TimerChanges, out: list[Firing]
    ) -> None:
        # the code every event runs for each of its rules: kept to few calls and lookups (a
        # daemon of many accounts runs it on cold caches: docs/performance.md)
        listed = self._step.get(plan.scope)
        if listed is None:  # the scope's entities, listed at its first rule in the step
            listed = self._step[plan.scope] = scopes.listed(self.state, plan.rule.scope, event)
        if not listed:
            return
        rule, ctx, add = plan.rule, self.state.ctx, plan.series.add
        attribute = plan.attribute
        try:
            for entity, bound in listed:
                if attribute is not None:
                    setattr(ctx, attribute, bound)
                t0 = time.perf_counter_ns()
                try:
                    hit = bool(rule.when(ctx))
                except Exception as exc:  # not fired for the decision, but loudly: never silent
                    self._failed(rule, "when", where_of(rule.when_at), exc, entity)
                    hit = False
                ms = (time.perf_counter_ns() - t0) / 1e6
                add(ms)
                if ms > RULE_ALERT_MS:
                    self.metrics.rule_slow(rule.id, ms)
                if hit:
                    self._hit(plan, entity, event, changes, out)
                elif self.latched or self.timers.running:
                    # seen false: forget its latch and `for:` timer; with none of either (the
                    # usual case) there is nothing to look up
                    self._rearm(plan, entity, changes)
        finally:
            if attribute is not None:
                setattr(ctx, attribute, None)

    def _hit(
        self,
        plan: _Plan,
        entity: str,
        event: Event | None,
        changes: TimerChanges,
        out: list[Firing],
    ) -> None:
        rule = plan.rule
        key = plan.prefix + entity
        if key in self.latched:
            return
        if rule.for_ms is not None and rule.scope is not Scope.TRADE:
            rec = self.timers.start(
                self.state.account_id, rule.id, entity, self.state.now, rule.for_ms
            )
            if rec is not None:
                changes.started.append(rec)
            return
        if rule.scope is not Scope.TRADE:
            self.latched.add(key)
        out.append(self._fire(rule, entity, event))

    def _rearm(self, plan: _Plan, entity: str, changes: TimerChanges) -> None:
        key = plan.prefix + entity
        self.latched.discard(key)
        if plan.rule.for_ms is not None and self.timers.cancel(key) is not None:
            changes.cancelled.append(key)

    def _fire(self, rule: Rule, entity: str, event: Event | None) -> Firing:
        ctx = self.state.ctx
        self.state.bind_ages()
        values: dict[str, str] = {}
        shown: dict[str, str] = {}
        for name, getter in rule.inputs:
            try:
                value = getter(ctx)
            except Exception:  # a plain name: the condition that read it already succeeded
                values[name] = shown[name] = "?"
                continue
            values[name] = str(value)
            shown[name] = format_value(value, self.input_types.get(name, STRING))
        try:
            message = rule.message(ctx)
        except Exception as exc:  # the rule still acts; the failure is reported
            self._failed(rule, "message", where_of(rule.message_at or rule.origin), exc, entity)
            message = rule.id
        contract, symbol, order_id = scopes.target(self.state, rule.scope, entity, event)
        return Firing(
            rule.id,
            str(rule.severity),
            self._bind_actions(rule, entity),  # expression args read the entity now
            rule.scope,
            entity,
            self.state.now,
            _received(event),
            message,
            values,
            contract,
            symbol,
            order_id,
            shown,
        )

    def _bind_actions(self, rule: Rule, entity: str) -> tuple[Action, ...]:
        actions = []
        for action in rule.actions:
            failed: list[tuple[str, Exception]] = []
            actions.append(action.bind(self.state.ctx, failed))
            for arg, exc in failed:
                span = action.span
                where = f"{action.path}:{span.line}:{span.col}" if span and action.path else ""
                self._failed(rule, f"do: {action.name}({arg})", where, exc, entity)
        return tuple(actions)

    def _failed(self, rule: Rule, part: str, where: str, exc: Exception, entity: str) -> None:
        error = RuleError(rule.id, part, where, error_text(exc), entity, self.state.now)
        self.errors.add(error)

    def _grace_message(self, grace: NoStopLossGrace, ctx: EvalContext, entity: str) -> str:
        try:
            return grace.render(ctx)
        except Exception as exc:  # the grace still closes; the failure is reported
            where = where_of(grace.origin)
            error = RuleError(GRACE_ID, "message", where, error_text(exc), entity, self.state.now)
            self.errors.add(error)
            return GRACE_ID

    # ---- timers ----------------------------------------------------------------------------
    def fire_timer(self, rec: TimerRecord, received_ns: int) -> Firing | None:
        """A due timer: re-check its condition at the deadline and fire if it still holds."""
        if rec.rule_id == GRACE_ID:
            return self._fire_grace(rec.entity, received_ns)
        rule = self.rules.get(rec.rule_id)
        if rule is None or not scopes.bind(self.state, rule.scope, rec.entity):
            scopes.unbind(self.state.ctx)
            return None
        try:
            hit = bool(rule.when(self.state.ctx))
        except Exception as exc:  # not fired, but loudly (as in _run_rule)
            self._failed(rule, "when", where_of(rule.when_at), exc, rec.entity)
            hit = False
        firing = self._fire(rule, rec.entity, None) if hit else None
        if firing is not None:
            self.latched.add(rec.key)
            firing = _with_received(firing, received_ns)
        scopes.unbind(self.state.ctx)
        return firing

    def update_grace(self, changes: TimerChanges, from_open: frozenset[str] = frozenset()) -> None:
        """Start the grace timer of every unprotected position; cancel it once protected.

        A timer starts now, except for the contracts in `from_open`: positions first seen in
        a snapshot (opened while rmdsl was not listening), whose grace counts from their open
        time, so one unprotected for longer than the grace is due at once (docs/engine.md,
        "Catching up").
        """
        now, grace = self.state.now, self.grace
        open_contracts = set(self.state.positions)
        for pos in self.state.positions.values():
            key = timer_key(GRACE_ID, pos.contract_id)
            if pos.view.has_stop:
                self.latched.discard(key)
                if self.timers.cancel(key) is not None:
                    changes.cancelled.append(key)
            elif key not in self.latched:
                start = min(pos.opened_at, now) if pos.contract_id in from_open else now
                rec = self.timers.start(
                    self.state.account_id, GRACE_ID, pos.contract_id, start, grace.grace_ms
                )
                if rec is not None:
                    changes.started.append(rec)
        self.forget_entities(open_contracts, changes, grace_only=True)

    def forget_entities(
        self, alive: set[str], changes: TimerChanges, grace_only: bool = False
    ) -> None:
        """Drop timers and latches of positions/orders that no longer exist."""
        st = self.state
        for rec in list(self.timers.running.values()):
            if grace_only and rec.rule_id != GRACE_ID:
                continue
            if not scopes.alive(rec.entity, st, alive):
                self.timers.cancel(rec.key)
                changes.cancelled.append(rec.key)
        for key in list(self.latched):
            entity = key.split("|", 1)[1]
            if not scopes.alive(entity, st, alive):
                self.latched.discard(key)

    def renew(self, entities: set[str], changes: TimerChanges) -> None:
        """A new position took the place of the old one in one event (a flip): the rules see
        a new entity, as if the old one had been reported closed first."""
        for rec in list(self.timers.running.values()):
            if rec.entity in entities:
                self.timers.cancel(rec.key)
                changes.cancelled.append(rec.key)
        self.latched = {k for k in self.latched if k.split("|", 1)[1] not in entities}

    def _fire_grace(self, contract_id: str, received_ns: int) -> Firing | None:
        pos = self.state.positions.get(contract_id)
        if pos is None or pos.view.has_stop:
            return None
        ctx = self.state.ctx
        ctx.position = pos.view
        self.latched.add(timer_key(GRACE_ID, contract_id))
        grace = self.grace
        firing = Firing(
            GRACE_ID,
            str(grace.severity),
            (Action(grace.action),),
            Scope.POSITION,
            contract_id,
            self.state.now,
            received_ns,
            self._grace_message(grace, ctx, contract_id),
            {
                "position.has_stop": "false",
                "grace": f"{grace.grace_ms}ms",
                "position.age": str(pos.view.age),
            },
            contract_id,
            pos.symbol,
            shown={
                "position.has_stop": format_value(False, BOOL),
                "grace": format_value(grace.grace_ms, DURATION),
                "position.age": format_value(pos.view.age, DURATION),
            },
        )
        ctx.position = None
        return firing


def _input_types(ruleset: Ruleset) -> dict[str, Type]:
    """The type of every name a rule may read: schema names and the ruleset's params."""
    types = {name: spec.type for name, spec in NAMES.items()}
    types.update({f"params.{n}": type_named(p.type_name) for n, p in ruleset.params.items()})
    return types


def _received(event: Event | None) -> int:
    return event.received_ns if event is not None else time.monotonic_ns()


def _with_received(f: Firing, received_ns: int) -> Firing:
    return replace(f, received_ns=received_ns)
