"""rmdsl.lang: the expression language (parse -> check -> compile) and its schema.

API (what the ruleset loader calls; all spans are file coordinates):

    from rmdsl.lang.parser import parse_expression   # -> ast.Expr, raises ParseError (RM1xx)
    expr = parse_expression(text, path=path, origin=Span_of_scalar_start, source=SourceFile|None)
    from rmdsl.lang.check import CheckEnv, check_expression, CheckedExpr
    checked = check_expression(expr, CheckEnv(path, scope, params={name: (Type, value)},
                                              expected=BOOL, source=SourceFile|None))
    checked.ok / .errors / .diagnostics (errors RM150-199 + warnings RM800-849),
    checked.type, .names_read, .triggers
    from rmdsl.lang.codegen import compile_predicate, compile_expression  # CheckError if not ok
    when = compile_predicate(checked)        # EvalContext -> bool; errors propagate
    getter = compile_expression(checked)     # EvalContext -> value; errors propagate
    from rmdsl.lang.format import compile_template, format_value
    render, diags = compile_template(text, env, origin=Span)   # "{expr}" holes, "{{" escapes
    format_value(value, Type) -> str         # "-$400.00", "1h30m", "08:30"
    from rmdsl.lang.printer import print_expression            # canonical source text
    rmdsl.lang.diagnostic_codes.CODES        # every code with its title

Runtime semantics (x / 0 == 0, floor modulo, ...): rmdsl.lang.runtime. Conditions, action
arguments and messages are all generated code (rmdsl.lang.codegen, the one back end).
"""
