"""Sentences of the expression grammar for the property tests, with a depth bound.

Hypothesis's `from_lark` picks each rule's expansion at random, and this grammar's
expansions recurse often enough that 99 % of its draws passed Hypothesis's own depth limit
and were thrown away: the test saw ~3 sentences in 10-40 s. Past `DEEP` spans each rule
takes its shortest expansion instead, so every draw ends in a sentence of the grammar."""

from __future__ import annotations

from hypothesis.extra.lark import LarkStrategy
from hypothesis.internal.conjecture.data import ConjectureData
from hypothesis.strategies import SearchStrategy, characters
from lark import Lark
from lark.grammar import NonTerminal, Symbol

DEEP = 12  # spans; Hypothesis marks a draw invalid at 100 nested spans


class BoundedLark(LarkStrategy):
    """`from_lark(grammar, start=..., explicit=...)`, bounded as the module says."""

    def __init__(self, grammar: Lark, start: str, explicit: dict[str, SearchStrategy[str]]):
        super().__init__(grammar, start, explicit, characters(codec="utf-8"))
        # nonterminal_strategies are sampled_from(expansions sorted by length): take the first
        self.shortest = {
            name: strategy.elements[0]  # type: ignore[attr-defined]
            for name, strategy in self.nonterminal_strategies.items()
        }

    def draw_symbol(self, data: ConjectureData, symbol: Symbol, draw_state: list[str]) -> None:
        if not isinstance(symbol, NonTerminal) or data.depth < DEEP:
            super().draw_symbol(data, symbol, draw_state)
            return
        data.start_span(self.rule_label(symbol.name))
        try:
            for part in self.shortest[symbol.name]:
                self.draw_symbol(data, part, draw_state)
                self.gen_ignore(data, draw_state)
        finally:
            data.stop_span()
