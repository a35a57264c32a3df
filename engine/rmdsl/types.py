"""The callable contracts between stages: what the compiler hands the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rmdsl.lang.context import EvalContext

Predicate = Callable[[EvalContext], bool]
Getter = Callable[[EvalContext], Any]
Renderer = Callable[[EvalContext], str]
