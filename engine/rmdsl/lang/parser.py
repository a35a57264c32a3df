"""Expression or action text -> rmdsl.lang.ast, or a ParseError with located diagnostics.

The Lark parser is built once (lazily, cached on disk when possible); the
transformer runs inline so even very long input never recurses.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import threading
from pathlib import Path

from lark import Lark, Token
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

import rmdsl
from rmdsl.errors import Diagnostic, ParseError
from rmdsl.lang import ast
from rmdsl.lang.diagnostic_codes import CODES
from rmdsl.lang.literals import DURATION_HINT, literal_problem
from rmdsl.lang.parse_errors import describe_unexpected_char, describe_unexpected_token
from rmdsl.lang.transformer import ORIGIN, BadLiteral, ExprTransformer, Origin
from rmdsl.source import SourceFile, Span, line_index

MAX_LENGTH = 5_000  # characters: rule conditions are one line; this bounds parse time
MAX_DEPTH = 100  # AST levels: every later pass may recurse this deep

_lock = threading.Lock()
_parser: Lark | None = None


def grammar_text() -> str:
    """The grammar from the installed wheel, or from the repo in an editable install."""
    resource = importlib.resources.files("rmdsl").joinpath("grammar/rmdsl.lark")
    if resource.is_file():
        return resource.read_text(encoding="utf-8")
    repo_file = Path(rmdsl.__file__).resolve().parents[2] / "grammar" / "rmdsl.lark"
    return repo_file.read_text(encoding="utf-8")


def _cache_file(text: str) -> str | None:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "rmdsl"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            return None
    except OSError:
        return None
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    import lark

    return str(folder / f"grammar-{digest}-lark{lark.__version__}.cache")


def _build(text: str, cache: str | None) -> Lark:
    return Lark(
        text,
        parser="lalr",
        lexer="contextual",
        start=["start", "action"],
        transformer=ExprTransformer(),
        keep_all_tokens=True,
        maybe_placeholders=True,
        cache=cache if cache is not None else False,
    )


def get_parser() -> Lark:
    """The one Lark instance (thread-safe lazy singleton)."""
    global _parser
    if _parser is None:
        with _lock:
            if _parser is None:
                text = grammar_text()
                try:
                    _parser = _build(text, _cache_file(text))
                except (OSError, EOFError, ValueError, TypeError, AttributeError):
                    _parser = _build(text, None)  # an unreadable cache is never fatal
    return _parser


def _error(
    code: str,
    message: str,
    path: str,
    span: Span | None,
    hint: str | None = None,
) -> ParseError:
    return ParseError([Diagnostic(code, message, path, span, hint=hint)])


def _span_at(start: int, length: int = 1) -> Span:
    """The file span of `length` characters at `start` in the text being parsed."""
    return ORIGIN.get().span(start, start + max(length, 1))


def _prescan(text: str, path: str) -> None:
    """Length, emptiness, strings and bracket balance: checked before Lark sees the text."""
    if len(text) > MAX_LENGTH:
        message = f"{CODES['RM111']}: {len(text)} characters (limit {MAX_LENGTH})"
        hint = "split the condition into several rules or use params"
        raise _error("RM111", message, path, _span_at(0), hint)
    if not text.strip():
        raise _error("RM112", CODES["RM112"], path, _span_at(0), hint="write a condition")
    stack: list[tuple[str, int]] = []  # open brackets and where they are
    i = 0
    while i < len(text):
        if text[i] == '"':
            i = _string_end(text, i, path)
        else:
            _bracket(text[i], i, stack, path)
        i += 1
    if stack:
        opener, at = stack[-1]
        message = f"{CODES['RM106']}: `{opener}` is never closed"
        hint = f"add `{')' if opener == '(' else ']'}`"
        raise _error("RM106", message, path, _span_at(at), hint=hint)


def _string_end(text: str, start: int, path: str) -> int:
    """The index of the `"` closing the string opened at `start`; RM108 if none on its line."""
    j = start + 1
    while j < len(text) and text[j] not in '"\n':
        j += 2 if text[j] == "\\" else 1
    if j >= len(text) or text[j] != '"':
        span = _span_at(start, min(j, len(text)) - start)
        raise _error("RM108", CODES["RM108"], path, span, hint='close the string with `"`')
    return j


def _bracket(ch: str, at: int, stack: list[tuple[str, int]], path: str) -> None:
    """Push an opening bracket, pop a matching closing one; RM110 too deep, RM114 unmatched."""
    if ch in "([":
        stack.append((ch, at))
        if len(stack) > MAX_DEPTH // 2:
            message = f"{CODES['RM110']} (more than {MAX_DEPTH // 2} brackets)"
            raise _error("RM110", message, path, _span_at(at))
    elif ch in ")]":
        if not stack or stack[-1][0] != ("(" if ch == ")" else "["):
            raise _error("RM114", f"{CODES['RM114']} `{ch}`", path, _span_at(at))
        stack.pop()


def parse_expression(
    text: str,
    *,
    path: str,
    source: SourceFile | None = None,
    offset: int = 0,
) -> ast.Expr:
    """Parse one expression; its spans are in `source`, where `text` starts at `offset`.

    Without a source, `text` is its own source (spans count from its first character).
    Raises ParseError (and nothing else) on bad input; its diagnostics carry source lines.
    """
    where = source if source is not None else SourceFile(path, text)
    token = ORIGIN.set(Origin(offset if source is not None else 0, line_index(where.text)))
    try:
        tree = _parse(text, path)
    except ParseError as err:
        raise ParseError([d.with_source(where) for d in err.diagnostics]) from None
    finally:
        ORIGIN.reset(token)
    return tree


def parse_action(
    text: str, *, path: str, source: SourceFile | None = None, offset: int = 0
) -> ast.ActionCall:
    """Parse one `do:` item (`lockout(until: reset)`); spans as parse_expression's.

    Raises ParseError (located, as an expression's) on bad input.
    """
    where = source if source is not None else SourceFile(path, text)
    token = ORIGIN.set(Origin(offset if source is not None else 0, line_index(where.text)))
    try:
        call = _lark_parse(text, path, "action")
    finally:
        ORIGIN.reset(token)
    if not isinstance(call, ast.ActionCall):
        raise _error("RM100", CODES["RM100"], path, _span_at(0))
    for arg in call.args:
        if ast.depth(arg.value) > MAX_DEPTH:
            message = f"{CODES['RM110']} (more than {MAX_DEPTH} levels)"
            raise _error("RM110", message, path, arg.span)
    return call


def _lark_parse(text: str, path: str, start: str) -> object:
    """The grammar's `start` rule over `text`; every Lark error becomes a located ParseError."""
    _prescan(text, path)
    parser = get_parser()
    try:
        return parser.parse(text, start=start)
    except BadLiteral as bad:
        raise _error("RM115", f"{CODES['RM115']}: {bad.message}", path, bad.span) from None
    except UnexpectedCharacters as err:
        _misspelt_literal(text, path)
        code, message, hint, length = describe_unexpected_char(text, err)
        span = _span_at(err.pos_in_stream or 0, length)
        raise _error(code, message, path, span, hint) from None
    except UnexpectedToken as err:
        _misspelt_literal(text, path)
        code, message, hint = describe_unexpected_token(
            text, err, lambda t: parser.parse(t, start=start)
        )
        raise _error(code, message, path, _token_span(text, err.token), hint) from None
    except (UnexpectedInput, LarkError, RecursionError) as err:  # defensive: never leak Lark
        raise _error("RM100", f"{CODES['RM100']}: {err.__class__.__name__}", path, None) from None


def _parse(text: str, path: str) -> ast.Expr:
    tree = _lark_parse(text, path, "start")
    if not isinstance(tree, ast.Expr):
        raise _error("RM100", CODES["RM100"], path, _span_at(0))
    if ast.depth(tree) > MAX_DEPTH:
        raise _error(
            "RM110",
            f"{CODES['RM110']} (more than {MAX_DEPTH} levels)",
            path,
            tree.span,
            hint="split the condition into several rules",
        )
    return tree


def _misspelt_literal(text: str, path: str) -> None:
    """A syntax error caused by a literal written another way (`15min`, `$1,500`) says so."""
    found = literal_problem(text)
    if found is not None:
        start, end, why = found
        hint = "money is written $1500 or -$1500" if "$" in text[start:end] else DURATION_HINT
        span = _span_at(start, end - start)
        raise _error("RM115", f"{CODES['RM115']}: {why}", path, span, hint) from None


def _token_span(text: str, tok: Token) -> Span:
    if tok.type == "$END" or tok.start_pos is None:
        return _span_at(len(text.rstrip()))  # just after the last character written
    return _span_at(tok.start_pos, len(str(tok)))
