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
from rmdsl.lang.transformer import ORIGIN, BadLiteral, ExprTransformer
from rmdsl.source import LineIndex, SourceFile, Span

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


def _text_span(line: int, col: int, length: int = 1) -> Span:
    line_off, col_off = ORIGIN.get()
    return Span.point(line, col, length).shifted(line_off, col_off)


def _prescan(text: str, path: str) -> None:
    """Length, emptiness, strings and bracket balance: checked before Lark sees the text."""
    if len(text) > MAX_LENGTH:
        raise _error(
            "RM111",
            f"{CODES['RM111']}: {len(text)} characters (limit {MAX_LENGTH})",
            path,
            _text_span(1, 1),
            hint="split the condition into several rules or use params",
        )
    if not text.strip():
        raise _error("RM112", CODES["RM112"], path, _text_span(1, 1), hint="write a condition")
    stack: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            if j >= n or text[j] != '"':
                line, col = LineIndex(text).position(i)
                raise _error(
                    "RM108",
                    CODES["RM108"],
                    path,
                    _text_span(line, col, min(j, n) - i),
                    hint='close the string with `"`',
                )
            i = j + 1
            continue
        if ch in "([":
            stack.append((ch, i))
            if len(stack) > MAX_DEPTH // 2:
                line, col = LineIndex(text).position(i)
                raise _error(
                    "RM110",
                    f"{CODES['RM110']} (more than {MAX_DEPTH // 2} brackets)",
                    path,
                    _text_span(line, col),
                )
        elif ch in ")]":
            want = "(" if ch == ")" else "["
            if not stack or stack[-1][0] != want:
                line, col = LineIndex(text).position(i)
                raise _error("RM114", f"{CODES['RM114']} `{ch}`", path, _text_span(line, col))
            stack.pop()
        i += 1
    if stack:
        opener, at = stack[-1]
        closer = ")" if opener == "(" else "]"
        line, col = LineIndex(text).position(at)
        raise _error(
            "RM106",
            f"{CODES['RM106']}: `{opener}` is never closed",
            path,
            _text_span(line, col),
            hint=f"add `{closer}`",
        )


def parse_expression(
    text: str,
    *,
    path: str,
    origin: Span | None = None,
    source: SourceFile | None = None,
) -> ast.Expr:
    """Parse one expression; spans are in file coordinates when `origin` is given.

    origin is where the first character of `text` sits in the file (the YAML
    scalar's start). Raises ParseError (and nothing else) on bad input.
    """
    offset = (origin.line - 1, origin.col - 1) if origin is not None else (0, 0)
    token = ORIGIN.set(offset)
    try:
        tree = _parse(text, path)
    except ParseError as err:
        raise ParseError([_with_line(d, text, origin, source) for d in err.diagnostics]) from None
    finally:
        ORIGIN.reset(token)
    return tree


def parse_action(text: str, *, path: str, origin: Span | None = None) -> ast.ActionCall:
    """Parse one `do:` item (`lockout(until: reset)`); spans as parse_expression's.

    Raises ParseError (located, as an expression's) on bad input.
    """
    offset = (origin.line - 1, origin.col - 1) if origin is not None else (0, 0)
    token = ORIGIN.set(offset)
    try:
        call = _lark_parse(text, path, "action")
    finally:
        ORIGIN.reset(token)
    if not isinstance(call, ast.ActionCall):
        raise _error("RM100", CODES["RM100"], path, _text_span(1, 1))
    for arg in call.args:
        if ast.depth(arg.value) > MAX_DEPTH:
            raise _error(
                "RM110", f"{CODES['RM110']} (more than {MAX_DEPTH} levels)", path, arg.span
            )
    return call


def _with_line(
    d: Diagnostic, text: str, origin: Span | None, source: SourceFile | None
) -> Diagnostic:
    if source is not None:
        return d.with_source(source)
    if origin is None and d.span is not None:
        lines = text.splitlines() or [""]
        line = lines[d.span.line - 1] if d.span.line <= len(lines) else ""
        return Diagnostic(d.code, d.message, d.path, d.span, d.severity, d.hint, line, d.notes)
    return d


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
        span = _text_span(err.line, err.column, length)
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
        raise _error("RM100", CODES["RM100"], path, _text_span(1, 1))
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
        line, col = LineIndex(text).position(start)
        hint = "money is written $1500 or -$1500" if "$" in text[start:end] else DURATION_HINT
        span = _text_span(line, col, end - start)
        raise _error("RM115", f"{CODES['RM115']}: {why}", path, span, hint) from None


def _token_span(text: str, tok: Token) -> Span:
    if tok.type == "$END" or tok.line is None:
        stripped = text.rstrip()
        line, col = LineIndex(text).position(max(len(stripped) - 1, 0))
        return _text_span(line, col + (1 if stripped else 0))
    return _text_span(tok.line, tok.column or 1, max(len(str(tok)), 1))
