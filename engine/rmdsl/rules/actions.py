"""A rule's `do:` node -> typed Actions, checked against rmdsl.lang.schema.ACTIONS.

Actions are read from the source text, not from what YAML made of it: in
`do: [flatten, lockout(until: reset)]` YAML sees a mapping inside the list,
so the list's text is split on top-level commas; each item is parsed by the
grammar (`action`), and an argument that computes is a checked expression.
"""

from __future__ import annotations

import dataclasses

from rmdsl.errors import ParseError
from rmdsl.lang import ast
from rmdsl.lang.check import check_expression
from rmdsl.lang.checked import CheckedExpr, CheckEnv
from rmdsl.lang.parser import parse_action
from rmdsl.lang.schema import ACTIONS, ActionSpec, ArgSpec, UntilKind
from rmdsl.lang.types import DURATION, INT
from rmdsl.lang.yaml_loader import YNode, YScalar, YSeq
from rmdsl.rules.model import MAX_DURATION_MS
from rmdsl.rules.stages import CheckedAction
from rmdsl.rules.values import (
    Report,
    did_you_mean,
    parse_duration_text,
    too_long,
)
from rmdsl.source import SourceFile, Span


def split_do(node: YNode, text: str) -> list[tuple[str, int]]:
    """The action items of a `do:` node with the file offset of each item's first character."""
    if isinstance(node, YSeq) and node.flow:
        start, end = node.offsets
        return _split_top_level(text[start + 1 : max(end - 1, start + 1)], start + 1)
    items = node.items if isinstance(node, YSeq) else (node,)
    out: list[tuple[str, int]] = []
    for item in items:
        if isinstance(item, YScalar):
            out.append((item.text, item.offsets[0] + (1 if item.quoted else 0)))
        else:
            start, end = item.offsets
            out.append((text[start:end], start))
    return out


def _split_top_level(inner: str, base: int) -> list[tuple[str, int]]:
    parts: list[tuple[str, int]] = []
    depth, quote, begin = 0, "", 0
    for i, ch in enumerate(inner):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append((inner[begin:i], base + begin))
            begin = i + 1
    if inner[begin:].strip() or parts:
        parts.append((inner[begin:], base + begin))
    return [_unquote(text, offset) for text, offset in parts]


def _unquote(text: str, offset: int) -> tuple[str, int]:
    """A quoted flow item (`["lockout(until: reset)"]`) is read without its quotes."""
    body = text.strip()
    if len(body) >= 2 and body[0] == body[-1] and body[0] in "\"'":
        return body[1:-1], offset + text.index(body[0]) + 1
    return text, offset


def params_of(checked: CheckedExpr) -> set[str]:
    """The params an expression reads (`params.x` -> `x`)."""
    return {n.removeprefix("params.") for n in checked.names_read if n.startswith("params.")}


class ActionReader:
    """Reads action items; an argument may name a param (`reduce_position(to: params.max)`).

    `env` gives the file, the rule's scope and the params; the expressions of arguments
    that compute are checked (and collected in `checked`), never compiled here.
    """

    def __init__(self, source: SourceFile, env: CheckEnv, report: Report) -> None:
        self.source, self.env, self.report = source, env, report
        self.path, self.scope, self.params = env.path, env.scope, env.params
        self.params_read: set[str] = set()
        self.checked: list[CheckedExpr] = []  # every argument expression that checked
        self.exprs: dict[str, CheckedExpr] = {}  # those of the action being read

    def span(self, offset: int, length: int) -> Span:
        return self.source.span(offset, offset + max(length, 1))

    def read(self, item: str, offset: int) -> CheckedAction | None:
        lead = len(item) - len(item.lstrip())
        body = item.strip()
        where = self.span(offset + lead, len(body))
        try:
            call = parse_action(body, path=self.path, source=self.source, offset=offset + lead)
        except ParseError as err:
            # an error between the brackets: the parser's message says what is wrong there
            if _in_arguments(err, body, offset + lead):
                self.report.extend(err.diagnostics)
                return None
            self.report.error_at(
                "RM041",
                where,
                self.path,
                f"cannot read action `{body}`",
                "write an action as `flatten` or `lockout(until: reset)`",
            )
            return None
        name, spec = call.name, ACTIONS.get(call.name)
        name_span = call.name_span
        if spec is None:
            self.report.error_at(
                "RM040",
                name_span,
                self.path,
                f"unknown action `{name}`",
                did_you_mean(name, ACTIONS),
            )
            return None
        if spec.scopes is not None and self.scope not in spec.scopes:
            names = sorted(spec.scopes)
            allowed = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
            self.report.error_at(
                "RM045",
                name_span,
                self.path,
                f"`{name}` cannot be used in a rule of scope {self.scope}",
                f"`{name}` needs scope {allowed}",
            )
            return None
        return self._action(spec, call, body, where)

    def _action(
        self, spec: ActionSpec, call: ast.ActionCall, body: str, where: Span
    ) -> CheckedAction | None:
        args = self._args(spec, call, body, where)
        if args is None:
            return None
        exprs = dict(self.exprs)
        for key in exprs:
            del args[key]
        self.checked.extend(exprs.values())
        if spec.name == "cooldown":  # cooldown(D) is lockout(until: D)
            args = {"until": args["for"]} if "for" in args else {}
            exprs = {"until": exprs["for"]} if "for" in exprs else {}
            return CheckedAction("lockout", args, where, exprs, self.path)
        return CheckedAction(spec.name, args, where, exprs, self.path)

    def _args(
        self, spec: ActionSpec, call: ast.ActionCall, body: str, origin: Span
    ) -> dict[str, int | UntilKind] | None:
        values: dict[str, int | UntilKind] = {}
        self.exprs = {}
        ok = True
        for written in call.args:
            where = written.span or origin
            arg = self._arg_spec(spec, written.name, len(call.args), where)
            if arg is None:
                ok = False
                continue
            if arg.name in values:
                self.report.error_at(
                    "RM046",
                    where,
                    self.path,
                    f"argument `{arg.name}` of `{spec.name}` is given twice",
                )
                ok = False
                continue
            if _computed(written.value):
                checked = self._expression(arg, written.value)
                ok = ok and checked is not None
                if checked is not None:
                    self.exprs[arg.name] = checked
                    values[arg.name] = 0  # seen; replaced by Action.bind when the rule fires
                continue
            value = self._value(
                spec, arg, _text_of(body, origin.start_pos or 0, written.value.span), where
            )
            ok = ok and value is not None
            if value is not None:
                values[arg.name] = value
        for arg in spec.args:
            if arg.required and arg.name not in values and ok:
                self.report.error_at(
                    "RM043",
                    call.name_span,
                    self.path,
                    f"`{spec.name}` needs the argument `{arg.name}`",
                    f"write it as {_example(spec)}",
                )
                ok = False
        return values if ok else None

    def _arg_spec(
        self, spec: ActionSpec, name: str | None, count: int, where: Span
    ) -> ArgSpec | None:
        by_name = {a.name: a for a in spec.args}
        if name is None:
            if spec.positional is not None and count == 1:
                return by_name[spec.positional]
            self.report.error_at(
                "RM041",
                where,
                self.path,
                f"`{spec.name}` takes named arguments here",
                f"write it as {_example(spec)}",
            )
            return None
        if name not in by_name:
            hint = did_you_mean(name, by_name) if by_name else f"`{spec.name}` takes no arguments"
            self.report.error_at(
                "RM042", where, self.path, f"`{spec.name}` has no argument `{name}`", hint
            )
            return None
        return by_name[name]

    def _value(
        self, spec: ActionSpec, arg: ArgSpec, raw: str, where: Span
    ) -> int | UntilKind | None:
        if arg.accepts_until_words and raw in tuple(UntilKind):
            return UntilKind(raw)
        if raw.startswith("params."):
            return self._param(spec, arg, raw[len("params.") :], where)
        if arg.type == DURATION:
            ms = parse_duration_text(raw)
            if ms is not None and ms > MAX_DURATION_MS:
                self._too_long(spec, arg, f"`{raw}`", where)
                return None
            if ms is not None and ms > 0:
                return ms
            words = " reset, session_start or" if arg.accepts_until_words else ""
            self.report.error_at(
                "RM044",
                where,
                self.path,
                f"`{arg.name}` of `{spec.name}` must be{words} a duration, not `{raw}`",
                "durations look like 30s, 5m, 1h30m",
            )
            return None
        if (
            arg.type == INT
            and raw.isascii()
            and raw.isdigit()
            and (int(raw) > 0 or arg.name == "to")
        ):
            return int(raw)
        kind = "a whole number >= 0" if arg.name == "to" else "a whole number > 0"
        self.report.error_at(
            "RM044", where, self.path, f"`{arg.name}` of `{spec.name}` must be {kind}, not `{raw}`"
        )
        return None

    def _param(self, spec: ActionSpec, arg: ArgSpec, name: str, where: Span) -> int | None:
        found = self.params.get(name)
        if found is None:
            self.report.error_at(
                "RM044",
                where,
                self.path,
                f"unknown param `params.{name}`",
                did_you_mean(name, self.params) if self.params else None,
            )
            return None
        typ, value = found
        self.params_read.add(name)
        positive = isinstance(value, int) and (value > 0 or arg.name == "to")
        if typ == arg.type and positive and not isinstance(value, bool):
            assert isinstance(value, int)
            if arg.type == DURATION and value > MAX_DURATION_MS:
                days = f"{value // 86_400_000}d" if value % 86_400_000 == 0 else f"{value}ms"
                self._too_long(spec, arg, f"`params.{name}` ({days})", where)
                return None
            return value
        self.report.error_at(
            "RM044",
            where,
            self.path,
            f"`{arg.name}` of `{spec.name}` needs {arg.type}, and `params.{name}` "
            f"is {typ} `{value}`",
        )
        return None

    def _too_long(self, spec: ActionSpec, arg: ArgSpec, shown: str, where: Span) -> None:
        message, hint = too_long(f"`{arg.name}` of `{spec.name}`", shown)
        self.report.error_at("RM047", where, self.path, message, hint)

    def _expression(self, arg: ArgSpec, expr: ast.Expr) -> CheckedExpr | None:
        """An argument that computes: checked against the argument's type."""
        env = dataclasses.replace(self.env, expected=arg.type, param_sites={})
        checked = check_expression(expr, env)
        self.report.extend(checked.diagnostics)
        if not checked.ok:
            return None
        self.params_read.update(params_of(checked))
        return checked


def _computed(value: ast.Expr) -> bool:
    """`lookup(params.x, symbol, 3)`, `position.age * 2`: not `5`, `-1`, `reset` or `params.x`
    (those are read as the argument's value, with the argument's own messages)."""
    match value:
        case ast.Literal() | ast.Unary(op=ast.UnaryOp.NEG, operand=ast.Literal()):
            return False
        case ast.Name(path=path):
            return "." in path and not path.startswith("params.")
    return True


def _in_arguments(err: ParseError, body: str, start: int) -> bool:
    """The error lies between an action's brackets (not an unclosed one): `to: (1 +)`."""
    opening = body.find("(")
    first = err.diagnostics[0] if err.diagnostics else None
    if opening < 0 or first is None or first.span is None or first.code == "RM106":
        return False
    return (first.span.start_pos or 0) > start + opening


def _text_of(body: str, start: int, span: Span | None) -> str:
    """The source text of `span` inside `body`, which starts at offset `start` in the file."""
    if span is None or span.start_pos is None or span.end_pos is None:
        return body
    return body[span.start_pos - start : span.end_pos - start]


def _example(spec: ActionSpec) -> str:
    samples = {"to": "1", "ticks": "10", "after": "20", "until": "reset", "for": "5m"}
    args = ", ".join(f"{a.name}: {samples.get(a.name, '1')}" for a in spec.args)
    return f"`{spec.name}({args})`" if args else f"`{spec.name}`"
