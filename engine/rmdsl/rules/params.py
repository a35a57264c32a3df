"""Param declarations -> (Type, value): the value is a literal of the expression language.

`daily_loss: -$1000` is parsed by the expression parser from the scalar's source
text; only literals, negated literals and lists of them are accepted, so a
param never depends on run-time state.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from rmdsl.errors import ParseError
from rmdsl.lang import ast
from rmdsl.lang.parser import parse_expression
from rmdsl.lang.types import ANY, Type, Value, list_of, map_of
from rmdsl.lang.yaml_loader import YMap, YNode, YScalar, YSeq, kind_of
from rmdsl.rules.document import ParamDoc
from rmdsl.rules.extends import TypedValue
from rmdsl.rules.values import Report
from rmdsl.source import SourceFile

_MAP_HINT = "a map param holds per-symbol values: `{value: {MNQ: 2, ES: 1}}`"
_NEGATABLE = frozenset({"int", "number", "money", "duration"})


class ParamTyper:
    """Turns each ParamDoc into a typed value, reporting problems into `report`."""

    def __init__(self, sources: Mapping[str, SourceFile], report: Report) -> None:
        self.sources = sources  # path -> file, where each value's spans point
        self.report = report

    def __call__(self, param: ParamDoc) -> TypedValue | None:
        node = param.value
        if isinstance(node, YSeq):
            return self._list(param, node)
        if isinstance(node, YMap) and param.value is node:
            return self._map(param, node)
        if (
            not isinstance(node, YScalar)
            or node.value is None
            or node.style in ("literal", "folded")
        ):
            self.report.error(
                "RM051",
                node,
                node.path,
                f"param `{param.name}` must be a literal value, not {kind_of(node)}",
                'e.g. 5, 2.5, -$1000, 30s, 08:30, mon, "MNQ" or ["MNQ", "ES"]',
            )
            return None
        return self._scalar(param, node)

    def _scalar(self, param: ParamDoc, node: YScalar) -> TypedValue | None:
        if node.quoted:
            # a quoted YAML string is a string param unless its text is a literal (`"-$1000"`)
            typed = self._parse(param, node.text, node, quiet=True)
            return typed if typed is not None else (Type("string"), node.text)
        return self._parse(param, node.expr_text, node, quiet=False)

    def _list(self, param: ParamDoc, node: YSeq) -> TypedValue | None:
        typed = self._items(param, node.items, "items", "items must be literal values")
        if typed is None:
            return None
        elem, values = typed
        return list_of(elem), tuple(values)

    def _map(self, param: ParamDoc, node: YMap) -> TypedValue | None:
        """`{MNQ: 2, ES: 1}`: a map<T> from symbol roots to one type of literal."""
        items = tuple(v for _, v in node.entries)
        typed = self._items(param, items, "values", "values must be literals")
        if typed is None:
            return None
        elem, values = typed
        if not values:
            message = f"param `{param.name}` is an empty map"
            self.report.error("RM051", node, node.path, message, _MAP_HINT)
            return None
        return map_of(elem), MappingProxyType(dict(zip(node.keys(), values, strict=True)))

    def _items(
        self, param: ParamDoc, items: tuple[YNode, ...], what: str, not_literal: str
    ) -> tuple[Type, list[Value]] | None:
        """The items of a list or map param, typed: one type for all of them (RM051 if not)."""
        values: list[Value] = []
        elem: Type = ANY
        for item in items:
            typed = (
                self(ParamDoc(param.name, param.key, item)) if isinstance(item, YScalar) else None
            )
            if typed is None:
                if not isinstance(item, YScalar):
                    message = f"param `{param.name}` {not_literal}"
                    self.report.error("RM051", item, item.path, message)
                return None
            if elem != ANY and typed[0] != elem:
                message = f"param `{param.name}` mixes {elem} and {typed[0]} {what}"
                hint = f"all {what} of a {'list' if what == 'items' else 'map'} have one type"
                self.report.error("RM051", item, item.path, message, hint)
                return None
            elem = typed[0]
            values.append(typed[1])
        return elem, values

    def _parse(self, param: ParamDoc, text: str, node: YScalar, quiet: bool) -> TypedValue | None:
        source = self.sources[node.path]
        try:
            expr = parse_expression(text, path=node.path, source=source, offset=node.start)
        except ParseError as err:
            if not quiet:
                self.report.extend(err.diagnostics)
            return None
        typed = literal_value(expr)
        if typed is None and not quiet:
            self.report.error(
                "RM051",
                node,
                node.path,
                f"param `{param.name}` must be a literal value, not an expression",
                "a param holds one value such as 5, -$1000 or 30s; compute in the "
                "rule's `when` instead",
            )
        return typed


def literal_value(expr: ast.Expr) -> TypedValue | None:
    if isinstance(expr, ast.Literal):
        return expr.type, expr.value
    if (
        isinstance(expr, ast.Unary)
        and expr.op is ast.UnaryOp.NEG
        and isinstance(expr.operand, ast.Literal)
        and expr.operand.type.name in _NEGATABLE
    ):
        value = expr.operand.value
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return expr.operand.type, -value
    if isinstance(expr, ast.ListLit):
        items = [literal_value(i) for i in expr.items]
        if any(i is None for i in items):
            return None
        types = {i[0] for i in items if i is not None}
        if len(types) > 1:
            return None
        elem = types.pop() if types else ANY
        return list_of(elem), tuple(i[1] for i in items if i is not None)
    return None
