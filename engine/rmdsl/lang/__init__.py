"""rmdsl.lang: the expression language (parse -> check -> lint -> compile) and its schema.

Each step is its own module and none imports another (they share rmdsl.lang.checked, the
AST and the schema); the ruleset passes (rmdsl.pipeline) call them. API (all spans are
file coordinates: `text` starts at `offset` in `source`; without a source it is its own):

    from rmdsl.lang.parser import parse_expression   # -> ast.Expr, raises ParseError (RM1xx)
    expr = parse_expression(text, path=path, source=SourceFile|None, offset=0)
    from rmdsl.lang.check import CheckEnv, check_expression, CheckedExpr
    checked = check_expression(expr, CheckEnv(path, scope, params={name: (Type, value)},
                                              expected=BOOL, source=SourceFile|None))
    checked.ok / .errors / .diagnostics (errors RM150-199), .type, .names_read, .triggers
    from rmdsl.lang.lint import lint_expression
    warnings = lint_expression(checked)      # RM800-849, for an expression without errors
    from rmdsl.lang.codegen import compile_predicate, compile_expression  # CheckError if not ok
    when = compile_predicate(checked)        # EvalContext -> bool; errors propagate
    getter = compile_expression(checked)     # EvalContext -> value; errors propagate
    from rmdsl.lang.template import check_template   # "{expr}" holes, "{{" escapes
    template, diags = check_template(text, env, offset=0)  # -> CheckedTemplate
    render = compile_message(template, format_value)        # rmdsl.lang.codegen
    from rmdsl.lang.format import compile_template, format_value
    render, diags = compile_template(text, env)              # check + compile in one call
    format_value(value, Type) -> str         # "-$400.00", "1h30m", "08:30"
    from rmdsl.lang.printer import print_expression            # canonical source text
    rmdsl.lang.diagnostic_codes.CODES        # every code with its title

Runtime semantics (x / 0 == 0, floor modulo, ...): rmdsl.lang.runtime. Conditions, action
arguments and messages are all generated code (rmdsl.lang.codegen, the one back end).
"""
