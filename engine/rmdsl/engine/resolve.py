"""Conflict resolution: the Firings of one event -> ordered Steps, the stronger action winning.

Steps run strongest first (rmdsl.lang.schema.ACTION_STRENGTH). A step whose
effect is already covered by a stronger one (a close after a flatten, a
reduce after a close of the same position) is kept as skipped, so every
firing is recorded. Order and rules: docs/engine.md, "Conflict resolution".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rmdsl.engine.evaluate import Firing
from rmdsl.lang.schema import ACTION_STRENGTH
from rmdsl.rules.model import Action

_CLOSING = (
    "close_position",
    "reduce_position",
    "attach_stop",
    "attach_target",
    "trail_stop",
    "breakeven",
)


@dataclass(frozen=True, slots=True)
class Step:
    firing: Firing
    action: Action
    skip: str | None = None  # why it is not sent (covered by a stronger step)


@dataclass(slots=True)
class _Cover:
    flatten: str | None = None  # rule id that flattens the account
    symbols: dict[str, str] = field(default_factory=dict)  # symbol -> rule id closing it
    contracts: dict[str, str] = field(default_factory=dict)  # contract -> rule id closing it
    blocks: dict[str, str] = field(default_factory=dict)  # symbol -> rule id blocking it


def resolve(firings: list[Firing]) -> list[Step]:
    """Order every (firing, action) by strength and mark the ones a stronger step covers."""
    items = [(f, a) for f in firings for a in f.actions]
    items.sort(key=lambda fa: -ACTION_STRENGTH.get(fa[1].name, 0))  # stable: rule order kept
    cover = _Cover()
    return [Step(f, a, _covered(f, a, cover)) for f, a in items]


def _covered(f: Firing, a: Action, cover: _Cover) -> str | None:
    name = a.name
    if name in ("lockout", "cooldown", "flatten"):
        # a lockout always records itself; only its flatten can be covered
        if cover.flatten is not None and name == "flatten":
            return f"covered by the flatten of {cover.flatten}"
        cover.flatten = cover.flatten or f.rule_id
        return None
    if name in ("alert", "pause", "reduce_only"):
        # a pause or reduce-only lasts past this event: nothing covers it (Lockouts.add may);
        # a reduce-only's cancel of entry orders is left out after a flatten (Executor.run)
        return None
    if cover.flatten is not None and name != "block_symbol":
        return f"covered by the flatten of {cover.flatten}"
    if name == "block_symbol":
        if f.symbol is not None:
            cover.symbols.setdefault(f.symbol, f.rule_id)
            cover.blocks.setdefault(f.symbol, f.rule_id)
        return None
    if name == "cancel_orders":
        if f.symbol is not None and f.symbol in cover.blocks:
            return f"covered by the symbol block of {cover.blocks[f.symbol]}"
        return None
    if f.symbol is not None and f.symbol in cover.symbols and name in _CLOSING:
        return f"covered by the symbol block of {cover.symbols[f.symbol]}"
    if f.contract_id is not None and f.contract_id in cover.contracts and name in _CLOSING:
        return f"covered by the close of {cover.contracts[f.contract_id]}"
    if name == "close_position":
        if f.contract_id is not None:
            cover.contracts[f.contract_id] = f.rule_id
        elif f.symbol is not None:
            cover.symbols[f.symbol] = f.rule_id
    return None
