"""rmdsl.lang.schema -> `rmdsl schema` output, the ruleset JSON Schema and docs/language.md.

`python -m rmdsl.docs_gen` rewrites docs/language.md; a test checks the
committed file is current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rmdsl.lang.schema import ACTIONS, FUNCTIONS, NAMES, NUMERIC_FUNCTIONS, Scope, Trigger
from rmdsl.rules.document import RULE_KEYS, TOP_KEYS
from rmdsl.rules.model import RuleSeverity
from rmdsl.rules.nslg import SETTABLE

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "language.md"
_DURATION_RE = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"


def schema_data() -> dict[str, object]:
    return {
        "names": [
            {
                "name": n.path,
                "type": str(n.type),
                "scope": str(n.scope) if n.scope else None,
                "triggers": sorted(n.triggers),
                "doc": n.doc,
            }
            for n in NAMES.values()
        ],
        "functions": [
            {
                "name": f.name,
                "params": [str(p) for p in f.params]
                if f.name not in NUMERIC_FUNCTIONS
                else ["numeric..."],
                "result": str(f.result) if f.result else "same as argument",
                "triggers": sorted(f.triggers),
                "doc": f.doc,
            }
            for f in FUNCTIONS.values()
        ],
        "actions": [
            {
                "name": a.name,
                "args": [
                    {"name": g.name, "type": str(g.type), "required": g.required} for g in a.args
                ],
                "scopes": sorted(a.scopes) if a.scopes else None,
                "doc": a.doc,
            }
            for a in ACTIONS.values()
        ],
        "scopes": list(Scope),
        "triggers": list(Trigger),
    }


def _action_sig(name: str) -> str:
    spec = ACTIONS[name]
    args = ", ".join(f"{a.name}: {a.type}" + ("" if a.required else "?") for a in spec.args)
    return f"{name}({args})" if args else name


def schema_text() -> str:
    lines = ["Names", ""]
    width = max(len(n) for n in NAMES)
    for spec in NAMES.values():
        scope = f" [scope {spec.scope}]" if spec.scope else ""
        lines.append(f"  {spec.path:<{width}}  {spec.type!s:<9} {spec.doc}{scope}")
    lines += ["", "Functions", ""]
    for f in FUNCTIONS.values():
        params = "x, ..." if f.name in NUMERIC_FUNCTIONS else ", ".join(str(p) for p in f.params)
        result = str(f.result) if f.result else "same"
        lines.append(f"  {f.name}({params}) -> {result}: {f.doc}")
    lines += ["", "Actions", ""]
    for name, action in ACTIONS.items():
        scopes = f" [scope {', '.join(sorted(action.scopes))}]" if action.scopes else ""
        lines.append(f"  {_action_sig(name)}: {action.doc}{scopes}")
    lines += ["", f"Scopes: {', '.join(Scope)}", f"Triggers: {', '.join(Trigger)}", ""]
    return "\n".join(lines)


def json_schema() -> dict[str, object]:
    text = {"type": "string"}
    duration = {"type": "string", "pattern": _DURATION_RE}
    rule = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "scope": {"enum": list(Scope)},
            "when": {"type": ["string", "boolean"], "description": "a boolean expression"},
            "for": duration,
            "on": {
                "oneOf": [
                    {"enum": list(Trigger)},
                    {"type": "array", "items": {"enum": list(Trigger)}},
                ]
            },
            "do": {
                "oneOf": [text, {"type": "array", "items": text}],
                "description": "actions: " + ", ".join(_action_sig(a) for a in ACTIONS),
            },
            "message": text,
            "severity": {"enum": list(RuleSeverity)},
            "enabled": {"type": "boolean"},
            "locked": {"type": "boolean"},
        },
    }
    nslg = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "grace": duration,
            "action": {"enum": ["close_position", "flatten"]},
            "message": text,
            "severity": {"enum": list(RuleSeverity)},
            "enabled": {"const": True},
        },
    }
    scalar = {"type": ["string", "number", "boolean"]}
    param = {
        "oneOf": [
            scalar,
            {"type": "array"},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["value"],
                "properties": {"value": {}, "stricter": {"enum": ["higher", "lower"]}},
            },
        ]
    }
    props: dict[str, object] = {
        "rmdsl": {"const": 1},
        "name": text,
        "description": text,
        "extends": {"oneOf": [text, {"type": "array", "items": text}]},
        "timezone": text,
        "reset": {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$"},
        "session": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "hours": text,
                "days": {
                    "type": "array",
                    "items": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
                },
            },
        },
        "holidays": {"type": "array", "items": {"type": "string", "format": "date"}},
        "params": {"type": "object", "additionalProperties": param},
        "rules": {
            "type": "object",
            "properties": {"no_stop_loss_grace": nslg},
            "patternProperties": {"^[a-z][a-z0-9_]*$": rule},
            "additionalProperties": False,
        },
    }
    assert set(props) == set(TOP_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "rmdsl ruleset",
        "type": "object",
        "required": ["rmdsl", "name"],
        "additionalProperties": False,
        "properties": props,
    }


PREAMBLE = """\
# The rmdsl language reference

<!-- Generated by `python -m rmdsl.docs_gen` from rmdsl.lang.schema: do not edit by hand. -->

A ruleset is a YAML file (see SPEC section 2 and docs/extends.md). Each rule's
`when` is an expression over the names below; `do` lists actions; `message`
is text with `{{expression}}` holes. `rmdsl schema` prints the same tables and
`rmdsl schema --json-schema` a JSON Schema for editors.

Ruleset keys: {top}.

Rule keys: {rule}. `no_stop_loss_grace` takes only {nslg}.
"""


NET_PNL = [
    "### Net P&L",
    "",
    "Every P&L name is net money, as the firm judges its loss limits: the gateway's "
    "`profitAndLoss` is gross and null on an opening fill, and fees come on every fill "
    '("half-turn"), opening fills included (ES 1.40, MES/MNQ 0.37 per contract per side). '
    "So `trade.pnl` = `trade.gross_pnl` - `trade.fees` (an opening fill's is -fees), "
    "`day.realized_pnl` = `day.gross_pnl` - `day.fees` = the sum of `trade.pnl` over "
    "today's fills, and `pnl(d)` sums `trade.pnl` over the window's fills. A closing fill "
    "is a win when its `trade.pnl` is above 0 and a loss below: a scratch exit at the "
    "entry price is a fee-sized loss (`day.losses`, `losses(d)`, "
    "`day.consecutive_losses`). The fees of the opening fill count in the day's P&L, not "
    "in the closing fill's win or loss. Open P&L (`*.unrealized_pnl`) is gross: the "
    "closing fees are not charged until the fill.",
    "",
]


def language_md() -> str:
    out = [PREAMBLE.format(top=_codes(TOP_KEYS), rule=_codes(RULE_KEYS), nslg=_codes(SETTABLE))]
    out += ["## Names", "", "| name | type | scope | triggers | meaning |", "|---|---|---|---|---|"]
    for n in NAMES.values():
        out.append(
            f"| `{n.path}` | {n.type} | {n.scope or 'any'} | "
            f"{', '.join(sorted(n.triggers))} | {_md(n.doc)} |"
        )
    out += ["", "`params.<name>` reads a declared param; its type is its value's type.", ""]
    out += NET_PNL
    out += ["## Functions", "", "| function | result | meaning |", "|---|---|---|"]
    for f in FUNCTIONS.values():
        params = "x, ..." if f.name in NUMERIC_FUNCTIONS else ", ".join(str(p) for p in f.params)
        result = f.result or "same as x"
        if f.name == "lookup":
            params, result = "map<T>, string, T", "T"
        out.append(f"| `{f.name}({params})` | {result} | {_md(f.doc)} |")
    out += ["", "## Actions", "", "| action | scopes | meaning |", "|---|---|---|"]
    for name, spec in ACTIONS.items():
        scopes = ", ".join(sorted(spec.scopes)) if spec.scopes else "any"
        out.append(f"| `{_action_sig(name)}` | {scopes} | {_md(spec.doc)} |")
    out += [
        "",
        "An action is written `name`, `name(value)` (an action with one argument) or "
        "`name(arg: value, ...)`; the grammar parses it like an expression (its `action` "
        "rule), so a syntax error inside the brackets is located as an expression's is.",
        "",
        "`until` also accepts `reset`, `session_start` and `can_trade` (lifted when the "
        "gateway reports the account can trade again); an integer or duration "
        "argument may name a param (`reduce_position(to: params.max_contracts)`) or be "
        "an expression of its type, evaluated when the rule fires "
        "(`reduce_position(to: lookup(params.per_symbol, symbol, 3))`, "
        "`cooldown(30m if trade.pnl <= -$300 else 5m)`); at run time `to` is at least 0 and "
        "`ticks`, `after` and durations at least 1.",
        "",
        "### Durations",
        "",
        "A lockout, cooldown, pause or block (`until: D`, `cooldown(D)`) and a rule's "
        "`for: D` last at most **366d**: the engine adds them to the clock, and "
        "`cooldown(999999999d)` would be past the last date it can hold. `rmdsl check` "
        "refuses a longer literal or param with `RM047`; an expression argument, known "
        "only when the rule fires, is clamped to 366d. For longer, lock out "
        "`until: reset` and keep the rule.",
        "",
        "## Maps and pattern lists",
        "",
        "A param may hold a map from symbol roots to one type of value, declared "
        "`per_symbol: {value: {MNQ: 2, ES: 1}}` (type `map<int>`). Read it with "
        "`lookup(params.per_symbol, symbol, 3)` (the default for other keys) and test a key "
        "with `symbol in params.per_symbol`. Maps take no `stricter`. "
        "`x matches params.patterns` with a `list<string>` is true when any glob matches.",
        "",
    ]
    out += [
        "## Scopes and triggers",
        "",
        f"Scopes: {_codes(tuple(Scope))}.",
        "",
        f"Triggers: {_codes(tuple(Trigger))}.",
        "",
    ]
    return "\n".join(out)


def _codes(items: tuple[str, ...]) -> str:
    return ", ".join(f"`{i}`" for i in items)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def main() -> int:
    DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
    DOC_PATH.write_text(language_md(), encoding="utf-8")
    print(f"wrote {DOC_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
