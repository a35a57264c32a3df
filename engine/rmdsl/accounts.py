"""Which accounts a daemon supervises: the config's names and globs, resolved against the
login's account list (docs/operations.md, "Many accounts").

An entry is an account name or an fnmatch glob (`50KTC-V2-*`), matched without regard
to case as the gateway's names are; each has a ruleset (its own, else the fleet's).
A listed account matched by several entries takes the first one's ruleset. A plain
name not (yet) listed is still supervised: its start says it is not found, with the
names that are.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class AccountEntry:
    """One `accounts` item of the config: a name or glob and the ruleset it runs."""

    pattern: str
    ruleset: Path

    @property
    def is_glob(self) -> bool:
        return any(c in GLOB_CHARS for c in self.pattern)


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """One account to supervise: its gateway name and ruleset file."""

    name: str
    ruleset: Path


def resolve(
    entries: Sequence[AccountEntry], names: Iterable[str]
) -> tuple[list[AccountSpec], list[str]]:
    """(the accounts to supervise in config order, the globs that matched no account)."""
    listed = list(names)
    specs: dict[str, AccountSpec] = {}
    unmatched: list[str] = []
    for entry in entries:
        wanted = entry.pattern.upper()
        if entry.is_glob:
            found = [n for n in listed if fnmatch.fnmatchcase(n.upper(), wanted)]
            if not found:
                unmatched.append(entry.pattern)
        else:
            found = [next((n for n in listed if n.upper() == wanted), entry.pattern)]
        for name in found:
            specs.setdefault(name.upper(), AccountSpec(name, entry.ruleset))
    return list(specs.values()), unmatched
