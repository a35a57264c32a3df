"""The fleet benchmark's container walk (fleet_bench.py --walk): which list, dict, set or
deque of the process grows, and whose it is.

tracemalloc at 200 accounts overloads the process, and a gc census counts objects, not
what is added to containers that already exist (numbers, strings, tuples of them: often
held by a dict the collector does not even track). The walk records the length of every
container the collector tracks and of the untracked ones they hold directly, keyed by id,
at two moments; the containers alive at both whose length grew most are printed with
their owner (the attribute of the object that holds them), and the containers that are
new at the second moment are summed by type.
"""

from __future__ import annotations

import gc
import reprlib
import sys
from collections import Counter, deque
from typing import Any

SIZED = (list, dict, set, deque)
# a sample item is shown this short: a full repr of an item of a big structure (a dict of
# every module, a walk's own table) takes gigabytes
SAMPLE = reprlib.Repr(maxlevel=2, maxdict=3, maxlist=3, maxtuple=4, maxset=3, maxstring=40)
SAMPLE.maxother = 40
Lengths = dict[int, tuple[type, int]]


def lengths() -> Lengths:
    """id -> (type, length) of every container in reach of the collector."""
    out: Lengths = {}
    for obj in gc.get_objects():
        if isinstance(obj, SIZED):
            out[id(obj)] = (type(obj), len(obj))
        for child in gc.get_referents(obj):
            if isinstance(child, SIZED) and not gc.is_tracked(child):
                out[id(child)] = (type(child), len(child))
    return out


def _by_id(wanted: set[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for obj in gc.get_objects():
        if id(obj) in wanted:
            found[id(obj)] = obj
        for child in gc.get_referents(obj):
            if id(child) in wanted:
                found[id(child)] = child
    return found


def owner(obj: Any, skip: object) -> str:
    """Who holds `obj`: `Type.attribute` of the object that holds it (in its __dict__ or
    inline), or the types of its holders."""
    names = []
    for ref in gc.get_referrers(obj):
        if ref is skip or isinstance(ref, type(sys._getframe())):
            continue
        attrs = getattr(ref, "__dict__", None)
        if isinstance(ref, dict):
            keys = [k for k, v in ref.items() if v is obj]
            holders = [o for o in gc.get_referrers(ref) if getattr(o, "__dict__", None) is ref]
            where = type(holders[0]).__qualname__ if holders else "dict"
            names += [f"{where}.{k}" for k in keys[:1]]
        elif isinstance(attrs, dict) and any(v is obj for v in attrs.values()):
            names += [f"{type(ref).__qualname__}.{k}" for k, v in attrs.items() if v is obj][:1]
        else:
            names.append(type(ref).__qualname__)
    return ", ".join(names[:3]) or "?"


def report(first: Lengths, last: Lengths, top: int = 20) -> list[str]:
    """The containers alive at both walks that grew most, and those new since the first."""
    grown = [
        (n - first[i][1], i, t)
        for i, (t, n) in last.items()
        if i in first and first[i][0] is t and n > first[i][1]
    ]
    grown.sort(reverse=True, key=lambda g: g[0])
    objects = _by_id({i for _, i, _ in grown[:top]})
    lines = [f"containers grown: {len(grown)}, items added {sum(g[0] for g in grown)}"]
    for added, i, t in grown[:top]:
        obj = objects.get(i)
        sample = SAMPLE.repr(_one(obj))[:80] if obj is not None else "?"
        who = owner(obj, objects) if obj is not None else "?"
        lines.append(f"{added:+8d} {t.__name__} now {last[i][1]} of {who}: e.g. {sample}")
    new: Counter[str] = Counter()
    for i, (t, n) in last.items():
        if i not in first:
            new[t.__name__] += n
    lines.append(f"items in containers new since: {dict(new.most_common(6))}")
    return lines


def _one(obj: Any) -> Any:
    """The newest item of a container (its last key for a dict)."""
    if isinstance(obj, dict):
        return next(reversed(obj.items()), None)
    if isinstance(obj, (list, deque)):
        return obj[-1] if obj else None
    return next(iter(obj), None)


def survivors(qualname: str, sample: int = 10) -> list[str]:
    """Objects of one type: how many a census without a full collection counts (cyclic
    garbage included), how many are alive after one, and who holds a sample of them (and,
    for a tuple, list or dict, who holds that)."""
    counted = sum(1 for o in gc.get_objects() if type(o).__qualname__ == qualname)
    gc.collect()
    alive = [o for o in gc.get_objects() if type(o).__qualname__ == qualname]
    held: Counter[str] = Counter()
    for obj in alive[:sample]:
        for ref in gc.get_referrers(obj):
            if ref is alive or isinstance(ref, type(sys._getframe())):
                continue
            name = type(ref).__qualname__
            if isinstance(ref, (tuple, list, dict, set)):
                name += " in " + owner(ref, alive)
            held[name] += 1
    lines = [f"{qualname}: {counted} counted, {len(alive)} alive after a full collection"]
    of = min(sample, len(alive))
    return lines + [f"  held by {name} ({n} of {of})" for name, n in held.items()]
