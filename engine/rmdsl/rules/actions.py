"""A rule's `do:` node -> typed Actions, checked against rmdsl.lang.schema.ACTIONS.

Actions are read from the source text, not from what YAML made of it: in
`do: [flatten, lockout(until: reset)]` YAML sees a mapping inside the list,
so the list's text is split on top-level commas and each item parsed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from rmdsl.errors import DiagnosticError
from rmdsl.lang.schema import ACTIONS, ActionSpec, ArgSpec, Scope, UntilKind
from rmdsl.lang.types import DURATION, INT, Type
from rmdsl.lang.yaml_loader import YNode, YScalar, YSeq
from rmdsl.rules.model import MAX_DURATION_MS, Action
from rmdsl.rules.values import (
    Report,
    did_you_mean,
    parse_duration_text,
    too_long,
)
from rmdsl.source import Span
from rmdsl.types import Getter

Locate = Callable[[int], tuple[int, int]]  # text offset -> (line, col), 1-based

_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.S)
_ARG = re.compile(r"^\s*(?:([A-Za-z_][A-Za-z0-9_]*)\s*:)?\s*(\S(?:.*\S)?)?\s*$", re.S)
_INT = re.compile(r"^[0-9]+$")


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


class ActionReader:
    """Reads action items; an argument may name a param (`reduce_position(to: params.max)`)."""

    def __init__(
        self,
        path: str,
        locate: Locate,
        scope: Scope,
        report: Report,
        params: Mapping[str, tuple[Type, object]] | None = None,
    ) -> None:
        self.path, self.locate, self.scope, self.report = path, locate, scope, report
        self.params = params or {}
        self.params_read: set[str] = set()
        self.exprs: dict[str, Getter] = {}  # the expression arguments of the action being read

    def span(self, offset: int, length: int) -> Span:
        line, col = self.locate(offset)
        return Span.point(line, col, length)

    def read(self, item: str, offset: int) -> Action | None:
        lead = len(item) - len(item.lstrip())
        body = item.strip()
        where = self.span(offset + lead, len(body))
        match = _CALL.match(body)
        if not match:
            self.report.error_at(
                "RM041",
                where,
                self.path,
                f"cannot read action `{body}`",
                "write an action as `flatten` or `lockout(until: reset)`",
            )
            return None
        name, args_text = match.group(1), match.group(2)
        spec = ACTIONS.get(name)
        name_span = self.span(offset + lead, len(name))
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
        args_offset = offset + lead + body.index("(") + 1 if args_text is not None else 0
        args = self._args(spec, args_text or "", args_offset, name_span)
        if args is None:
            return None
        exprs = dict(self.exprs)
        for key in exprs:
            del args[key]
        if name == "cooldown":
            if "for" in exprs:
                until = {"until": exprs["for"]}
                return Action("lockout", {}, span=where, exprs=until, path=self.path)
            return Action("lockout", {"until": args["for"]}, span=where, path=self.path)
        return Action(name, args, span=where, exprs=exprs, path=self.path)

    def _args(
        self, spec: ActionSpec, text: str, offset: int, name_span: Span
    ) -> dict[str, int | UntilKind] | None:
        values: dict[str, int | UntilKind] = {}
        self.exprs = {}
        exprs = self.exprs
        ok = True
        parts = _split_top_level(text, offset) if text.strip() else []
        for part, start in parts:
            match = _ARG.match(part)
            raw_value = match.group(2) if match else None
            lead = len(part) - len(part.lstrip())
            where = self.span(start + lead, len(part.strip()))
            if not match or raw_value is None:
                self.report.error_at(
                    "RM041",
                    where,
                    self.path,
                    f"cannot read argument `{part.strip()}`",
                    f"write arguments as `name: value`, e.g. {_example(spec)}",
                )
                ok = False
                continue
            arg = self._arg_spec(spec, match.group(1), len(parts), where)
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
            if _is_expression(raw_value):
                assert match is not None
                getter = self._expression(arg, raw_value, start + match.start(2))
                ok = ok and getter is not None
                if getter is not None:
                    exprs[arg.name] = getter
                    values[arg.name] = 0  # seen; replaced by Action.bind when the rule fires
                continue
            value = self._value(spec, arg, raw_value, where)
            ok = ok and value is not None
            if value is not None:
                values[arg.name] = value
        for arg in spec.args:
            if arg.required and arg.name not in values and ok:
                self.report.error_at(
                    "RM043",
                    name_span,
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
        if arg.type == INT and _INT.match(raw) and (int(raw) > 0 or arg.name == "to"):
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

    def _expression(self, arg: ArgSpec, text: str, offset: int) -> Getter | None:
        """An argument written as an expression: checked against the argument's type."""
        from rmdsl.lang.check import CheckEnv, check_expression
        from rmdsl.lang.codegen import compile_expression
        from rmdsl.lang.parser import parse_expression

        origin = self.span(offset, len(text))
        try:
            expr = parse_expression(text, path=self.path, origin=origin)
        except DiagnosticError as err:
            self.report.extend(err.diagnostics)
            return None
        env = CheckEnv(self.path, self.scope, self.params, expected=arg.type)
        checked = check_expression(expr, env)
        self.report.extend(checked.diagnostics)
        if not checked.ok:
            return None
        self.params_read.update(
            n.removeprefix("params.") for n in checked.names_read if n.startswith("params.")
        )
        return compile_expression(checked)


def _is_expression(raw: str) -> bool:
    """`lookup(params.x, symbol, 3)` or `30m if ... else 5m`, not `5`, `reset` or `params.x`."""
    return _PARAM.match(raw) is None and _EXPRESSION.search(raw) is not None


_PARAM = re.compile(r"^params\.[A-Za-z_][A-Za-z0-9_]*$")
_EXPRESSION = re.compile(r"[\s()+*/%]|^[a-z_]+\.[a-z_]")


def _example(spec: ActionSpec) -> str:
    samples = {"to": "1", "ticks": "10", "after": "20", "until": "reset", "for": "5m"}
    args = ", ".join(f"{a.name}: {samples.get(a.name, '1')}" for a in spec.args)
    return f"`{spec.name}({args})`" if args else f"`{spec.name}`"
