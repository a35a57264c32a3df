"""Every diagnostic code the expression language emits, with its one-line title.

RM100-RM149 syntax (parser), RM150-RM199 types and names (checker),
RM800-RM849 warnings (likely mistakes).
"""

from __future__ import annotations

CODES: dict[str, str] = {
    # syntax
    "RM100": "syntax error",
    "RM101": "unexpected end of expression",
    "RM102": "`=` is not a comparison",
    "RM103": "`&&` and `||` are not operators",
    "RM104": "`!` is not an operator",
    "RM105": "the minus sign of a money literal goes before `$`",
    "RM106": "unclosed bracket",
    "RM107": "the `$` of a money literal goes before the amount",
    "RM108": "unterminated string",
    "RM109": "expression ends with an operator",
    "RM110": "expression too deeply nested",
    "RM111": "expression too long",
    "RM112": "empty expression",
    "RM113": "a range `a..b` is only allowed after `in` or `not in`",
    "RM114": "unmatched closing bracket",
    "RM115": "invalid literal",
    "RM116": "invalid character",
    "RM117": "missing operator between two values",
    "RM118": "unclosed `{` in message template",
    "RM119": "unmatched `}` in message template",
    # names and types
    "RM150": "unknown name",
    "RM151": "name not available in this rule's scope",
    "RM152": "unknown function",
    "RM153": "wrong number of arguments",
    "RM154": "argument of the wrong type",
    "RM155": "operator applied to incompatible types",
    "RM156": "money mixed with a duration",
    "RM157": "comparison of incompatible types",
    "RM158": "condition is not a bool",
    "RM159": "`matches` needs strings",
    "RM160": "`in` needs a list or a range of the item's type",
    "RM161": "range over a type without order",
    "RM162": "`if`/`else` branches of different types",
    "RM163": "operand is not a bool",
    "RM164": "ordering comparison on a type without order",
    "RM165": "list items of different types",
    "RM166": "unknown param",
    "RM167": "expression has the wrong type",
    "RM168": "money compared with a plain number",
    "RM169": "window longer than the history kept",
    # warnings
    "RM800": "divisor can be zero",
    "RM801": "loss limit with a positive threshold",
    "RM802": "condition can never be true",
    "RM803": "condition is always true",
    "RM804": "empty range",
    "RM805": "contradictory bounds on the same value",
    "RM806": "expression can fail at run time",
    "RM807": "duration computed at run time has no upper bound",
    "RM808": "account name without the param that sets it",
}
