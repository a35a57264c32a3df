"""Parsed expression + environment -> CheckedExpr: node types, names, triggers, diagnostics.

A separate pass (sqlglot annotate_types style): nodes stay untyped, the types
live in `CheckedExpr.types` keyed by node identity. Errors only: warnings come from the
lint pass (lint.py), which the driver runs on what this pass returns.
"""

from __future__ import annotations

from decimal import Decimal

from rmdsl.errors import Diagnostic, Severity
from rmdsl.lang import ast
from rmdsl.lang.checked import CheckedExpr, CheckEnv
from rmdsl.lang.diagnostic_codes import CODES
from rmdsl.lang.functions import FUNCTIONS, NUMERIC_FUNCTIONS
from rmdsl.lang.horizon import too_long
from rmdsl.lang.literals import WEEKDAYS, money_literal
from rmdsl.lang.literals import close_names as did_you_mean
from rmdsl.lang.schema import NAMES, Trigger
from rmdsl.lang.types import (
    ANY,
    BOOL,
    DURATION,
    INT,
    MONEY,
    NUMBER,
    NUMERIC,
    ORDERED,
    STRING,
    Type,
    list_of,
)
from rmdsl.lang.typing_rules import ERROR, binary_type, comparable, negate_type, unify

MAX_DEPTH = 100
__all__ = ["CheckEnv", "CheckedExpr", "check_expression"]


def check_expression(expr: ast.Expr, env: CheckEnv) -> CheckedExpr:
    """Type-check `expr`; never raises for user input (problems become diagnostics)."""
    checker = _Checker(env)
    if ast.depth(expr) > MAX_DEPTH:
        checker.error("RM110", CODES["RM110"], expr)
        typ = ERROR
    else:
        typ = checker.visit(expr)
        checker.check_expected(expr, typ)
    checked = CheckedExpr(
        expr,
        typ,
        checker.types,
        frozenset(checker.names),
        frozenset(checker.triggers),
        tuple(checker.diags),
        env,
    )
    if env.source is not None:
        source = env.source
        checked = _with_diags(checked, tuple(d.with_source(source) for d in checked.diagnostics))
    return checked


def _with_diags(c: CheckedExpr, diags: tuple[Diagnostic, ...]) -> CheckedExpr:
    return CheckedExpr(c.expr, c.type, c.types, c.names_read, c.triggers, diags, c.env)


class _Checker:
    def __init__(self, env: CheckEnv) -> None:
        self.env = env
        self.types: dict[int, Type] = {}
        self.names: set[str] = set()
        self.triggers: set[Trigger] = set()
        self.diags: list[Diagnostic] = []

    def error(self, code: str, message: str, node: ast.Expr, hint: str | None = None) -> Type:
        self.diags.append(Diagnostic(code, message, self.env.path, node.span, Severity.ERROR, hint))
        return ERROR

    def visit(self, node: ast.Expr) -> Type:
        method = getattr(self, f"visit_{type(node).__name__}")
        typ: Type = method(node)
        self.types[id(node)] = typ
        return typ

    def check_expected(self, node: ast.Expr, typ: Type) -> None:
        want = self.env.expected
        if want is None or typ == ERROR or unify(want, typ) == want:
            return
        if want == BOOL:
            hint = "a condition compares something, e.g. `day.realized_pnl <= -$400`"
            self.error("RM158", f"{CODES['RM158']}: it is {typ}", node, hint)
        else:
            self.error("RM167", f"{CODES['RM167']}: expected {want}, found {typ}", node)

    # leaves -----------------------------------------------------------------
    def visit_Literal(self, node: ast.Literal) -> Type:
        return node.type

    def visit_Name(self, node: ast.Name) -> Type:
        path = node.path
        if path.startswith("params."):
            return self._param(node, path.removeprefix("params."))
        spec = NAMES.get(path)
        if spec is None:
            return self._unknown_name(node)
        if spec.scope is not None and spec.scope != self.env.scope:
            where = "`symbol`" if path == "symbol" else f"`{path.split('.')[0]}.*`"
            hint = f"{where} needs `scope: {spec.scope}` on the rule"
            msg = f"{CODES['RM151']}: `{path}` is only defined in scope {spec.scope}"
            return self.error("RM151", f"{msg}, this rule has scope {self.env.scope}", node, hint)
        self.names.add(path)
        self.triggers |= spec.triggers
        return spec.type

    def _param(self, node: ast.Name, name: str) -> Type:
        declared = self.env.params.get(name)
        if declared is None and name in self.env.param_sites:
            return ERROR  # declared with an invalid value, reported at the declaration
        if declared is None:
            hint = did_you_mean(name, list(self.env.params)) or "declare it under `params:`"
            return self.error("RM166", f"{CODES['RM166']} `params.{name}`", node, hint)
        self.names.add(node.path)
        return declared[0]

    def _unknown_name(self, node: ast.Name) -> Type:
        # a misspelt weekday (`frii`, `Mon`) lexes as a name
        candidates = [*NAMES, *(f"params.{p}" for p in self.env.params), *WEEKDAYS]
        hint = did_you_mean(node.path, candidates)
        if node.path in FUNCTIONS:
            hint = f"`{node.path}` is a function: call it, e.g. `{node.path}(...)`"
        elif hint is None and node.path.lower() in ("true", "false"):
            hint = f"write `{node.path.lower()}`"
        return self.error("RM150", f"{CODES['RM150']} `{node.path}`", node, hint)

    # operators -----------------------------------------------------------------
    def visit_Unary(self, node: ast.Unary) -> Type:
        operand = self.visit(node.operand)
        if node.op is ast.UnaryOp.NOT:
            if operand not in (BOOL, ERROR):
                return self.error("RM163", f"{CODES['RM163']}: `not` of {operand}", node)
            return BOOL
        result = negate_type(operand)
        if result is None:
            return self.error("RM155", f"{CODES['RM155']}: cannot negate {operand}", node)
        return result

    def visit_Binary(self, node: ast.Binary) -> Type:
        left, right = self.visit(node.left), self.visit(node.right)
        result = binary_type(node.op, left, right)
        if result is not None:
            return result
        op = node.op.value
        if node.op in (ast.BinaryOp.AND, ast.BinaryOp.OR):
            bad = left if left != BOOL else right
            return self.error("RM163", f"{CODES['RM163']}: `{op}` needs bools, found {bad}", node)
        if {left, right} == {MONEY, DURATION}:
            return self.error("RM156", f"{CODES['RM156']}: `{op}` of {left} and {right}", node)
        message = f"{CODES['RM155']}: `{op}` of {left} and {right}"
        return self.error("RM155", message, node, _money_hint(left, right))

    def visit_Compare(self, node: ast.Compare) -> Type:
        types = [self.visit(x) for x in node.operands]
        for i, op in enumerate(node.ops):
            left, right = types[i], types[i + 1]
            ordering = op not in (ast.CompareOp.EQ, ast.CompareOp.NE)
            if comparable(left, right, ordering):
                continue
            pair = node.operands[i], node.operands[i + 1]
            if self._misread_param(pair, left, right) or self._misread_param(
                pair[::-1], right, left
            ):
                continue
            if {left, right} & {MONEY} and {left, right} & NUMERIC:
                message = f"{CODES['RM168']}: {left} `{op.value}` {right}"
                self.error("RM168", message, node, _money_hint(left, right))
            elif unify(left, right) is not None:
                msg = f"{CODES['RM164']}: {unify(left, right)} has no order, use `==` or `!=`"
                self.error("RM164", msg, node)
            else:
                self.error("RM157", f"{CODES['RM157']}: {left} `{op.value}` {right}", node)
        return BOOL

    def _misread_param(self, pair: tuple[ast.Expr, ast.Expr], typ: Type, other: Type) -> bool:
        """A plain-number param compared with money or a duration: report it at the param,
        where the fix goes, with the literal the trader meant (`-600` -> `-$600`)."""
        name = pair[0].path.removeprefix("params.") if isinstance(pair[0], ast.Name) else ""
        site = self.env.param_sites.get(name)
        declared = self.env.params.get(name)
        if site is None or declared is None or typ not in NUMERIC or other not in (MONEY, DURATION):
            return False
        value = declared[1]
        if other == MONEY and isinstance(value, int | Decimal):
            code, hint = "RM168", "money is written with a `$`: $400, -$1000"
            why = f"param `{name}` is compared with money: write {money_literal(Decimal(value))}"
        else:
            code, hint = "RM157", "a duration has a unit: 500ms, 30s, 15m, 1h or 1d"
            meant = f"{value}m?" if isinstance(value, int) and value >= 0 else "e.g. 15m"
            why = f"param `{name}` is compared with a duration: expected a duration: {meant}"
        self.diags.append(Diagnostic(code, why, site[0], site[1], Severity.ERROR, hint))
        return True

    def visit_Range(self, node: ast.Range) -> Type:
        start, end = self.visit(node.start), self.visit(node.end)
        common = unify(start, end)
        if common is None:
            return self.error("RM161", f"{CODES['RM161']}: range from {start} to {end}", node)
        if common not in ORDERED and common != ERROR:
            return self.error("RM161", f"{CODES['RM161']}: range over {common}", node)
        return common

    def visit_In(self, node: ast.In) -> Type:
        item = self.visit(node.item)
        container = self.visit(node.container)
        if ERROR in (item, container):
            return BOOL
        if isinstance(node.container, ast.Range):
            if unify(item, container) is None:
                self.error("RM160", f"{CODES['RM160']}: {item} in a range of {container}", node)
            return BOOL
        if container.is_map:
            # `symbol in params.per_symbol`: is there an entry for this key
            if unify(item, STRING) != STRING:
                self.error("RM160", f"{CODES['RM160']}: {item} in {container}", node)
            return BOOL
        if not container.is_list:
            self.error("RM160", f"{CODES['RM160']}: {item} in {container}", node)
        elif container.elem != ANY and unify(item, container.elem or ANY) is None:
            self.error("RM160", f"{CODES['RM160']}: {item} in {container}", node)
        return BOOL

    def visit_Matches(self, node: ast.Matches) -> Type:
        subject, pattern = self.visit(node.subject), self.visit(node.pattern)
        if pattern in (list_of(STRING), list_of(ANY)):  # any of a list: `matches params.blocked`
            pattern = STRING
        for typ in (subject, pattern):
            if typ not in (STRING, ERROR):
                hint = 'e.g. `position.symbol matches "MN*"`'
                return self.error("RM159", f"{CODES['RM159']}, found {typ}", node, hint)
        return BOOL

    def visit_IfElse(self, node: ast.IfElse) -> Type:
        body, test, orelse = self.visit(node.body), self.visit(node.test), self.visit(node.orelse)
        if test not in (BOOL, ERROR):
            self.error("RM163", f"{CODES['RM163']}: `if` condition is {test}", node.test)
        common = unify(body, orelse)
        if common is None:
            return self.error("RM162", f"{CODES['RM162']}: {body} and {orelse}", node)
        return common

    def visit_ListLit(self, node: ast.ListLit) -> Type:
        elem = ANY
        for item in node.items:
            typ = self.visit(item)
            common = elem if typ == ERROR else (typ if elem == ANY else unify(elem, typ))
            if common is None:
                return self.error("RM165", f"{CODES['RM165']}: {elem} and {typ}", item)
            elem = common
        return list_of(elem)

    def visit_Call(self, node: ast.Call) -> Type:
        spec = FUNCTIONS.get(node.func)
        args = [self.visit(a) for a in node.args]
        if spec is None:
            hint = did_you_mean(node.func, list(FUNCTIONS))
            return self.error("RM152", f"{CODES['RM152']} `{node.func}`", node, hint)
        if spec.runtime:
            self.triggers |= spec.triggers
        if node.func in NUMERIC_FUNCTIONS:
            return self._numeric_call(node, args)
        if node.func == "lookup":
            return self._lookup_call(node, args)
        if len(args) != len(spec.params):
            message = f"{CODES['RM153']}: `{node.func}` takes {len(spec.params)}, given {len(args)}"
            return self.error("RM153", message, node)
        for arg, typ, want in zip(node.args, args, spec.params, strict=True):
            if typ != ERROR and unify(want, typ) != want:
                message = f"{CODES['RM154']}: `{node.func}` wants {want}, given {typ}"
                self.error("RM154", message, arg, _arg_hint(want, typ))
        if (long := too_long(node, self.env.params)) is not None:
            self.error("RM169", f"{CODES['RM169']}: {long[0]}", node, long[1])
        assert spec.result is not None
        return spec.result

    def _numeric_call(self, node: ast.Call, args: list[Type]) -> Type:
        func = node.func
        variadic = func in ("min", "max")
        if (variadic and len(args) < 2) or (not variadic and len(args) != 1):
            want = "2 or more" if variadic else "1"
            message = f"{CODES['RM153']}: `{func}` takes {want}, given {len(args)}"
            return self.error("RM153", message, node)
        common: Type | None = args[0]
        for typ in args[1:]:
            common = unify(common, typ) if common is not None else None
        allowed = (
            (INT, NUMBER, MONEY, DURATION)
            if func in ("abs", "min", "max")
            else (INT, NUMBER, MONEY)
        )
        if common == ERROR:
            return ERROR
        if common is None or common not in allowed:
            shown = ", ".join(str(t) for t in args)
            message = f"{CODES['RM154']}: `{func}` of {shown}"
            return self.error(
                "RM154", message, node, f"`{func}` takes {'/'.join(map(str, allowed))}"
            )
        if func in ("round", "floor", "ceil") and common in NUMERIC:
            return INT
        return common

    def _lookup_call(self, node: ast.Call, args: list[Type]) -> Type:
        """lookup(map<T>, string, T) -> T: a per-key value with a default for other keys."""
        if len(args) != 3:
            message = f"{CODES['RM153']}: `lookup` takes 3, given {len(args)}"
            return self.error("RM153", message, node, "e.g. `lookup(params.per_symbol, symbol, 3)`")
        table, key, default = args
        if ERROR in args:
            return ERROR
        if not table.is_map or table.elem is None:
            hint = "declare the param as a map: `per_symbol: {value: {MNQ: 2, ES: 1}}`"
            message = f"{CODES['RM154']}: `lookup` wants a map, given {table}"
            return self.error("RM154", message, node.args[0], hint)
        if unify(key, STRING) != STRING:
            message = f"{CODES['RM154']}: `lookup` wants a string key, given {key}"
            return self.error("RM154", message, node.args[1], _arg_hint(STRING, key))
        result = unify(table.elem, default)
        if result is None:
            held = f"the map holds {table.elem}"
            message = f"{CODES['RM154']}: the default of `lookup` is {default}, {held}"
            return self.error("RM154", message, node.args[2])
        return result


def _money_hint(left: Type, right: Type) -> str | None:
    if MONEY in (left, right) and (left in NUMERIC or right in NUMERIC):
        return "write money with a `$`, e.g. `$400` or `-$400`"
    return None


def _arg_hint(want: Type, given: Type) -> str | None:
    if want == DURATION and given in NUMERIC:
        return "write a duration with a unit, e.g. `1h` or `30m`"
    if want == STRING:
        return 'e.g. `"MNQ"` or `position.symbol`'
    return None
