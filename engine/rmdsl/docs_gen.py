"""rmdsl.lang.schema -> `rmdsl schema` output, the ruleset JSON Schema and docs/language.md.

`python -m rmdsl.docs_gen` rebuilds the generated blocks of docs/language.md (between
`<!-- generated: NAME -->` and `<!-- end generated -->`) and keeps the written text around
them; a test checks the committed file is current.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from rmdsl.lang.functions import FUNCTIONS, NUMERIC_FUNCTIONS
from rmdsl.lang.literals import DURATION_PATTERN, WEEKDAYS
from rmdsl.lang.schema import ACTIONS, NAMES, Scope, Trigger
from rmdsl.rules.document import PARAM_KEYS, RULE_KEYS, SESSION_KEYS, TOP_KEYS
from rmdsl.rules.model import RuleSeverity
from rmdsl.rules.nslg import SETTABLE

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "language.md"


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
        lines.append(f"  {f.signature(params)} -> {result}: {f.doc}")
    lines += ["", "Actions", ""]
    for name, action in ACTIONS.items():
        scopes = f" [scope {', '.join(sorted(action.scopes))}]" if action.scopes else ""
        lines.append(f"  {_action_sig(name)}: {action.doc}{scopes}")
    lines += ["", f"Scopes: {', '.join(Scope)}", f"Triggers: {', '.join(Trigger)}", ""]
    return "\n".join(lines)


_TEXT = {"type": "string"}
_DURATION = {"type": "string", "pattern": DURATION_PATTERN}


def _rule_schema() -> dict[str, object]:
    """A rule's keys (docs/language.md, "Rules")."""
    triggers = {"enum": list(Trigger)}
    actions = ", ".join(_action_sig(a) for a in ACTIONS)
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "scope": {"enum": list(Scope)},
            "when": {"type": ["string", "boolean"], "description": "a boolean expression"},
            "for": _DURATION,
            "on": {"oneOf": [triggers, {"type": "array", "items": triggers}]},
            "do": {
                "oneOf": [_TEXT, {"type": "array", "items": _TEXT}],
                "description": "actions: " + actions,
            },
            "message": _TEXT,
            "severity": {"enum": list(RuleSeverity)},
            "enabled": {"type": "boolean"},
            "locked": {"type": "boolean"},
        },
    }


def _grace_schema() -> dict[str, object]:
    """no_stop_loss_grace: only its settings, and `enabled: true` at most."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "grace": _DURATION,
            "action": {"enum": ["close_position", "flatten"]},
            "message": _TEXT,
            "severity": {"enum": list(RuleSeverity)},
            "enabled": {"const": True},
        },
    }


def _param_schema() -> dict[str, object]:
    """A param: a literal, a list, or the long form {value, stricter}."""
    long_form = {
        "type": "object",
        "additionalProperties": False,
        "required": ["value"],
        "properties": {"value": {}, "stricter": {"enum": ["higher", "lower"]}},
    }
    return {"oneOf": [{"type": ["string", "number", "boolean"]}, {"type": "array"}, long_form]}


def _top_properties() -> dict[str, object]:
    session = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"hours": _TEXT, "days": {"type": "array", "items": {"enum": WEEKDAYS}}},
    }
    rules = {
        "type": "object",
        "properties": {"no_stop_loss_grace": _grace_schema()},
        "patternProperties": {"^[a-z][a-z0-9_]*$": _rule_schema()},
        "additionalProperties": False,
    }
    return {
        "rmdsl": {"const": 1},
        "name": _TEXT,
        "description": _TEXT,
        "extends": {"oneOf": [_TEXT, {"type": "array", "items": _TEXT}]},
        "timezone": _TEXT,
        "reset": {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$"},
        "session": session,
        "holidays": {"type": "array", "items": {"type": "string", "format": "date"}},
        "week_start": {"type": "string", "pattern": "^(mon|tue|wed|thu|fri|sat|sun) [0-9:]+$"},
        "params": {"type": "object", "additionalProperties": _param_schema()},
        "rules": rules,
    }


def json_schema() -> dict[str, object]:
    """The JSON Schema of a ruleset file, for editors (`rmdsl schema --json`)."""
    props = _top_properties()
    assert set(props) == set(TOP_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "rmdsl ruleset",
        "type": "object",
        "required": ["rmdsl", "name"],
        "additionalProperties": False,
        "properties": props,
    }


GENERATED = re.compile(
    r"(<!-- generated: (?P<name>[a-z]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S
)


def _keys_block() -> list[str]:
    return [
        f"Ruleset keys: {_codes(TOP_KEYS)}.",
        "",
        f"Rule keys: {_codes(RULE_KEYS)}. `no_stop_loss_grace` takes only {_codes(SETTABLE)}.",
        "",
        f"Param keys (the long form): {_codes(PARAM_KEYS)}. Session keys: {_codes(SESSION_KEYS)}.",
    ]


def _names_block() -> list[str]:
    out = ["| name | type | scope | triggers | meaning |", "|---|---|---|---|---|"]
    for n in NAMES.values():
        out.append(
            f"| `{n.path}` | {n.type} | {n.scope or 'any'} | "
            f"{', '.join(sorted(n.triggers))} | {_md(n.doc)} |"
        )
    return out


def _functions_block() -> list[str]:
    out = ["| function | result | meaning |", "|---|---|---|"]
    for f in FUNCTIONS.values():
        params = "x, ..." if f.name in NUMERIC_FUNCTIONS else ", ".join(str(p) for p in f.params)
        result = f.result or "same as x"
        if f.name == "lookup":
            params, result = "map<T>, string, T", "T"
        out.append(f"| `{f.signature(params)}` | {result} | {_md(f.doc)} |")
    return out


def _actions_block() -> list[str]:
    out = ["| action | scopes | meaning |", "|---|---|---|"]
    for name, spec in ACTIONS.items():
        scopes = ", ".join(sorted(spec.scopes)) if spec.scopes else "any"
        out.append(f"| `{_action_sig(name)}` | {scopes} | {_md(spec.doc)} |")
    return out


def _scopes_block() -> list[str]:
    return [f"Scopes: {_codes(tuple(Scope))}.", "", f"Triggers: {_codes(tuple(Trigger))}."]


BLOCKS: dict[str, Callable[[], list[str]]] = {
    "keys": _keys_block,
    "names": _names_block,
    "functions": _functions_block,
    "actions": _actions_block,
    "scopes": _scopes_block,
}


def language_md(written: str | None = None) -> str:
    """docs/language.md with every generated block rebuilt; the written text is kept."""
    text = DOC_PATH.read_text(encoding="utf-8") if written is None else written
    seen: set[str] = set()

    def block(match: re.Match[str]) -> str:
        name = match.group("name")
        seen.add(name)
        return match.group(1) + "\n".join(BLOCKS[name]()) + "\n" + match.group(4)

    out = GENERATED.sub(block, text)
    missing = set(BLOCKS) - seen
    if missing:
        raise ValueError(f"docs/language.md lacks generated blocks: {sorted(missing)}")
    return out


def _codes(items: tuple[str, ...]) -> str:
    return ", ".join(f"`{i}`" for i in items)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def main() -> int:
    DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
    text = language_md()
    DOC_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {DOC_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
