"""The kill -9 soak's printout: what was done, what was enforced and how fast, what went wrong."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from soak_monitor import Figures, category, spread

if TYPE_CHECKING:
    from kill9_soak import Settings


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counter.items())) or "none"


def report(fig: Figures, cfg: Settings, elapsed_s: float, notes: list[str], stopped: str) -> int:
    """Print the figures; return how many violations fail the run (not --pending), or 1 if it
    stopped before its kills."""
    rules = cfg.rules
    print(
        f"kill -9 soak: seed {cfg.seed}, {fig.kills} kills ({fig.start_kills} during a restart) "
        f"in {fig.cycles} cycles, {fig.sessions} sessions, {elapsed_s:.0f} s"
    )
    print(
        f"  ruleset: grace {rules.grace_s:g} s, cooldown {rules.cooldown_s:g} s after a fill "
        f"<= ${-rules.cooldown_loss} loss, daily loss ${-rules.daily_loss} -> flatten + lockout, "
        f"MNQ <= {rules.max_mnq}; tolerance {cfg.tolerance_s:g} s after due / daemon live"
    )
    print(f"  daemon start (spawn -> live):        {spread(fig.start_s)}")
    print(f"  breaches seen:                       {_counts(fig.breaches)}")
    print(f"  standing while the daemon was down:  {_counts(fig.awaiting)}")
    print(f"    of those, enforced after restart:  {_counts(fig.after_restart)}")
    print(f"    of those, cooldown over first:     {_counts(fig.ran_out)}")
    print(f"  time to enforce after restart, from spawn: {spread(fig.restart_cure_s)}")
    print(f"                                 from live: {spread(fig.live_cure_s)}")
    print(f"  enforcement while running (due -> gone):  {spread(fig.running_cure_s)}")
    req = fig.requests
    print(
        f"  the daemons' requests: closes {req['closes_ok']} accepted, "
        f"{req['closes_refused']} refused; cancels {req['cancels_ok']} accepted, "
        f"{req['cancels_refused']} refused ({req['market_cancels']} of a market order that "
        f"had filled as it was accepted; {req['races']} refusals crossed another change within "
        f"{cfg.race_s:g} s); HTTP errors {req['errors']}"
    )
    kinds = Counter(v.kind for v in fig.violations)
    failing = [v for v in fig.violations if v.kind not in cfg.pending]
    cycles = {(v.session, v.cycle) for v in fig.violations}
    print(
        f"  violations: {len(fig.violations)} in {len(cycles)} of {fig.cycles} cycles "
        f"({len(fig.violations) - len(failing)} of kinds pending a fix)"
    )
    for kind, n in sorted(kinds.items()):
        pending = " (pending)" if kind in cfg.pending else ""
        print(f"    {category(kind)}:{kind}: {n}{pending}")
    for violation in fig.violations:
        print(f"    - {violation.line(cfg.seed)}; {fig.plans.get(violation.cycle, '')}")
    if notes:
        print(f"  trader steps the gateway refused: {len(notes)} (e.g. {notes[0]})")
    if stopped:
        print(f"INCOMPLETE: stopped at {fig.kills} of {cfg.kills} kills: {stopped}")
        return max(1, len(failing))
    print("PASS" if not failing else f"FAIL: {len(failing)} violations")
    return len(failing)
