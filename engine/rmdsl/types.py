"""The callable contracts between stages: what the compiler hands the engine."""

from __future__ import annotations

from collections.abc import Callable

from rmdsl.lang.context import EvalContext
from rmdsl.lang.types import Value

Predicate = Callable[[EvalContext], bool]
Getter = Callable[[EvalContext], Value]  # a value of the language (rmdsl.lang.types)
Renderer = Callable[[EvalContext], str]
