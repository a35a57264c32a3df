"""What the demo story's breaches came to under a ruleset (`rmdsl demo --ruleset FILE`).

The story (demo/script.py) breaks the shipped Topstep rules; a trader's own ruleset may not
have some of them, or may allow what the story does. Each breach the demo did not see
enforced is explained: no such rule in the ruleset (not a failure), or the rule is there and
did not enforce (a failure: exit 1), or it depends on a lockout nothing set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rmdsl.demo.script import Expectation
from rmdsl.engine.persistence import EnforcementRecord
from rmdsl.rules.model import NoStopLossGrace, Ruleset


@dataclass(frozen=True, slots=True)
class Unmet:
    expectation: Expectation
    why: str
    failure: bool  # the ruleset has the rule and it did not enforce

    @property
    def line(self) -> str:
        return f"not enforced: {self.expectation.what}: {self.why}"


def rule_ids(ruleset: Ruleset) -> set[str]:
    """Every rule of the ruleset, enabled, plus the built-in grace rule (always there)."""
    return {r.id for r in ruleset.rules if r.enabled} | {NoStopLossGrace.ID}


def explain(
    missing: Sequence[Expectation], ruleset: Ruleset, records: Sequence[EnforcementRecord]
) -> list[Unmet]:
    ids = rule_ids(ruleset)
    locked = any(r.outcome == "ok" and r.action.startswith("lockout") for r in records)
    out = []
    for exp in missing:
        present = sorted(ids & set(exp.rules))
        if not exp.rules:  # the lockout's own enforcement: needs a lockout first
            if locked:
                out.append(
                    Unmet(exp, "the account was locked out but the trade was not closed", True)
                )
            else:
                out.append(Unmet(exp, "nothing locked the account out earlier in the story", False))
        elif not present:
            names = " or ".join(exp.rules)
            out.append(Unmet(exp, f"the ruleset has no rule {names}", False))
        else:
            why = (
                f"rule {', '.join(present)} is in the ruleset but did not enforce during the "
                "story (its limits may allow what the story does)"
            )
            out.append(Unmet(exp, why, True))
    return out
