"""Hot reload with real files on disk: swaps, rejections, extended files, debounce, clean stop.

These tests use the line-based loader of reload_helpers (the watcher's injected
`load`); test_reload_pipeline.py runs the same scenarios through rmdsl.pipeline.
Waits are bounded event waits on the real file watcher, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from reload_helpers import Recorder, atomic_write, line_loader, write

from rmdsl.contract.events import ClockEvent, PositionEvent, PositionType, Side, TradeEvent
from rmdsl.enforce.recording_broker import RecordingBroker
from rmdsl.engine.core import Engine
from rmdsl.engine.reload import RulesetWatcher
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset
from rmdsl.rules.model import Ruleset
from rmdsl.store import SqliteStore

WatcherFactory = Callable[..., RulesetWatcher]


@pytest.fixture
async def rec() -> Recorder:
    return Recorder()


@pytest.fixture
async def started(rec: Recorder) -> AsyncIterator[Callable[..., asyncio.Future[RulesetWatcher]]]:
    watchers: list[RulesetWatcher] = []

    async def start(path: Path, **kw: object) -> RulesetWatcher:
        options: dict[str, object] = {"load": line_loader, "load_in_thread": False, **kw}
        w = RulesetWatcher(
            path,
            rec.on_valid,
            rec.on_invalid,
            current=line_loader(path),
            **options,  # type: ignore[arg-type]
        )
        watchers.append(w)
        await w.start()
        await asyncio.wait_for(w.ready.wait(), 5)
        return w

    yield start  # type: ignore[misc]
    for w in watchers:
        await w.stop()
        assert not w.running


async def test_valid_edit_swaps_in(tmp_path: Path, rec: Recorder, started: WatcherFactory) -> None:
    rs = tmp_path / "rs.yaml"
    write(rs, "name: a\n")
    w = await started(rs)
    old = w.current
    saved = time.perf_counter()
    write(rs, "name: b\n")
    await rec.wait(valid=1)
    assert rec.valid[0].digest != (old.digest if old else "")
    assert w.current is rec.valid[0] and w.reloads == 1
    assert rec.valid_at[0] - saved < 2.0  # generous bound; the benchmark measures the real figure
    assert w.last_reload_ms is not None


async def test_atomic_rename_save_is_seen(
    tmp_path: Path, rec: Recorder, started: WatcherFactory
) -> None:
    rs = tmp_path / "rs.yaml"
    write(rs, "name: a\n")
    await started(rs)
    atomic_write(rs, "name: renamed\n")
    await rec.wait(valid=1)
    atomic_write(rs, "name: again\n")
    await rec.wait(valid=2)


async def test_invalid_edit_keeps_the_old_ruleset_and_records_it(
    tmp_path: Path, rec: Recorder, started: WatcherFactory
) -> None:
    rs = tmp_path / "rs.yaml"
    write(rs, "name: a\n")
    async with SqliteStore(tmp_path / "state.db") as store:
        w = await started(rs, rejections=store)
        before = w.current
        write(rs, "name: a\nerror: params.daily_loss must be money\n")
        await rec.wait(invalid=1)
        (diag,) = rec.invalid[0]
        assert diag.span is not None and diag.span.line == 2
        assert diag.path == str(rs.resolve())
        assert w.current is before and w.rejected == 1 and rec.valid == []
        (entry,) = await store.ruleset_versions()
        assert entry.status == "rejected"
        assert f"{rs.resolve()}:2:1: error[RM099]: params.daily_loss must be money" in (
            entry.error or ""
        )
        # fixing the file swaps in the fixed version
        write(rs, "name: fixed\n")
        await rec.wait(valid=1, invalid=1)
        await w.stop()


async def test_editing_an_extended_base_triggers_reload(
    tmp_path: Path, rec: Recorder, started: WatcherFactory
) -> None:
    (tmp_path / "base").mkdir()
    base = tmp_path / "base" / "b.yaml"
    write(base, "name: base\n")
    rs = tmp_path / "rs.yaml"
    write(rs, "extends: base/b.yaml\n")
    w = await started(rs)
    assert str(base) in w.watched
    write(base, "name: base v2\n")
    await rec.wait(valid=1)
    assert rec.valid[0].files == (str(rs), str(base))


async def test_watched_set_follows_extends(
    tmp_path: Path, rec: Recorder, started: WatcherFactory
) -> None:
    (tmp_path / "other").mkdir()
    rs = tmp_path / "rs.yaml"
    write(rs, "name: a\n")
    new_base = tmp_path / "other" / "new.yaml"
    write(new_base, "name: new\n")
    w = await started(rs)
    assert str(new_base) not in w.watched
    write(rs, "extends: other/new.yaml\n")
    await rec.wait(valid=1)
    assert str(new_base) in w.watched
    await asyncio.wait_for(w.ready.wait(), 5)  # re-armed on the new directories
    write(new_base, "name: new v2\n")
    await rec.wait(valid=2)
    write(rs, "name: alone\n")
    await rec.wait(valid=3)
    assert str(new_base) not in w.watched


async def test_other_files_in_the_directory_are_ignored(
    tmp_path: Path, rec: Recorder, started: WatcherFactory
) -> None:
    rs = tmp_path / "rs.yaml"
    write(rs, "name: a\n")
    await started(rs)
    write(tmp_path / "notes.txt", "unrelated\n")
    write(rs, "name: b\n")  # the sentinel: once it is seen, the unrelated write was too
    await rec.wait(valid=1)
    assert len(rec.valid) == 1 and rec.invalid == []


async def test_burst_of_writes_is_one_reload(
    tmp_path: Path, rec: Recorder, started: WatcherFactory
) -> None:
    rs = tmp_path / "rs.yaml"
    write(rs, "name: a\n")
    calls: list[Path] = []

    def counting(path: Path) -> Ruleset:
        calls.append(path)
        return line_loader(path)

    w = await started(rs, load=counting)
    with rs.open("w") as f:  # an editor writing a file in pieces
        for part in ("name: ", "bur", "st\n"):
            f.write(part)
            f.flush()
    await rec.wait(valid=1)
    assert len(calls) == 1 and w.current is not None and w.current.name == "rs"


async def test_save_without_change_does_not_swap(
    tmp_path: Path, rec: Recorder, started: WatcherFactory
) -> None:
    rs = tmp_path / "rs.yaml"
    write(rs, "name: a\n")
    w = await started(rs)
    write(rs, "name: a\n")
    write(rs, "name: b\n")
    await rec.wait(valid=1)
    assert w.reloads == 1


async def test_engine_refusing_the_swap_keeps_the_old_one(tmp_path: Path, rec: Recorder) -> None:
    rs = tmp_path / "rs.yaml"
    write(rs, "name: a\n")
    refused: list[Ruleset] = []

    async def refuse(new: Ruleset) -> None:
        refused.append(new)
        raise RuntimeError("swap refused")

    w = RulesetWatcher(rs, refuse, rec.on_invalid, current=line_loader(rs), load=line_loader)
    write(rs, "name: b\n")
    assert await w.reload() is False
    assert len(refused) == 1 and w.current is not None and w.current.digest != refused[0].digest


async def test_unreadable_file_is_a_located_rejection(tmp_path: Path, rec: Recorder) -> None:
    rs = tmp_path / "rs.yaml"
    write(rs, "name: a\n")
    w = RulesetWatcher(rs, rec.on_valid, rec.on_invalid, current=line_loader(rs), load=line_loader)
    rs.unlink()
    assert await w.reload() is False
    (diag,) = rec.invalid[0]
    assert diag.path == str(rs) and "cannot load the ruleset" in diag.message
    assert diag.code == "RM013"


async def test_stop_is_prompt_and_leaves_no_task(tmp_path: Path, rec: Recorder) -> None:
    rs = tmp_path / "rs.yaml"
    write(rs, "name: a\n")
    async with RulesetWatcher(rs, rec.on_valid, rec.on_invalid, load=line_loader) as w:
        await asyncio.wait_for(w.ready.wait(), 5)
        assert w.running
        started = time.perf_counter()
    assert not w.running
    assert time.perf_counter() - started < 2.0
    names = {t.get_name() for t in asyncio.all_tasks()}
    assert not any(n.startswith("reload:") for n in names)


# --- the same scenarios through the real pipeline (rmdsl.pipeline.load_ruleset) ---------------

BASE = """\
rmdsl: 1
name: base
timezone: America/Chicago
reset: "17:00"
params:
  daily_loss: {value: -$1000, stricter: higher}
rules:
  daily_realized_loss:
    when: day.realized_pnl <= params.daily_loss
    do: [flatten, lockout(until: reset)]
    message: "daily loss {day.realized_pnl}"
    locked: true
  no_stop_loss_grace:
    grace: 2m
"""

CHILD = """\
rmdsl: 1
name: child
extends: base/base.yaml
params:
  daily_loss: {daily_loss}
rules:
  too_many_trades:
    when: day.trades >= 10
    do: [flatten]
"""


def _files(tmp_path: Path, daily_loss: str = "-$800") -> tuple[Path, Path]:
    (tmp_path / "base").mkdir(exist_ok=True)
    base = tmp_path / "base" / "base.yaml"
    write(base, BASE)
    child = tmp_path / "child.yaml"
    write(child, CHILD.replace("{daily_loss}", daily_loss))
    return base, child


@pytest.fixture
async def real(rec: Recorder, tmp_path: Path) -> AsyncIterator[RulesetWatcher]:
    _base, child = _files(tmp_path)
    async with RulesetWatcher(
        child, rec.on_valid, rec.on_invalid, current=load_ruleset(child)
    ) as w:
        await asyncio.wait_for(w.ready.wait(), 5)
        yield w


async def test_pipeline_valid_edit_swaps_in(real: RulesetWatcher, rec: Recorder) -> None:
    assert real.current is not None
    assert str(real.current.params["daily_loss"].value) == "-800"
    write(real.path, CHILD.replace("{daily_loss}", "-$600"))
    await rec.wait(valid=1)
    assert str(rec.valid[0].params["daily_loss"].value) == "-600"
    assert real.current is rec.valid[0]


async def test_pipeline_invalid_edit_reports_the_located_error(
    real: RulesetWatcher, rec: Recorder
) -> None:
    before = real.current
    text = CHILD.replace("{daily_loss}", "-$800").replace("day.trades >= 10", "day.trades >= $10")
    write(real.path, text)
    await rec.wait(invalid=1)
    assert real.current is before
    first = rec.invalid[0][0]
    assert first.path.endswith("child.yaml") and first.span is not None
    assert first.span.line == 8  # the `when:` line
    assert first.render().startswith(f"{first.path}:8:")


async def test_pipeline_base_edit_triggers_reload(
    real: RulesetWatcher, rec: Recorder, tmp_path: Path
) -> None:
    write(tmp_path / "base" / "base.yaml", BASE.replace("grace: 2m", "grace: 90s"))
    await rec.wait(valid=1)
    assert rec.valid[0].no_stop_loss_grace.grace_ms == 90_000


@pytest.mark.parametrize(
    ("trick", "code"),
    [
        ("  no_stop_loss_grace:\n    enabled: false\n", "RM300"),
        ('  no_stop_loss_grace:\n    enabled: "no"\n', "RM300"),
        ("  no_stop_loss_grace:\n    grace: 0s\n", "RM302"),
    ],
)
async def test_pipeline_cannot_switch_off_no_stop_loss_grace(
    real: RulesetWatcher, rec: Recorder, trick: str, code: str
) -> None:
    before = real.current
    write(real.path, CHILD.replace("{daily_loss}", "-$800") + trick)
    await rec.wait(invalid=1)
    assert real.current is before and rec.valid == []
    assert before is not None and before.no_stop_loss_grace.grace_ms == 120_000
    assert any(
        d.code == code and d.path.endswith("child.yaml") and d.span is not None
        for d in rec.invalid[0]
    )


async def test_pipeline_disabling_grace_in_the_base_is_rejected(
    real: RulesetWatcher, rec: Recorder, tmp_path: Path
) -> None:
    write(tmp_path / "base" / "base.yaml", BASE.replace("grace: 2m", "enabled: off"))
    await rec.wait(invalid=1)
    assert real.current is not None and real.current.no_stop_loss_grace.grace_ms == 120_000
    assert any(d.code == "RM300" and d.path.endswith("base.yaml") for d in rec.invalid[0])


# --- end to end: watcher -> Engine.swap_ruleset, state in a SqliteStore --------------------------

LIMITS = """\
rmdsl: 1
name: limits
timezone: America/Chicago
reset: "17:00"
params:
  daily_loss: {{value: {loss}, stricter: higher}}
rules:
{rules}  no_stop_loss_grace:
    grace: {grace}
"""

DAILY_RULE = """\
  daily_realized_loss:
    when: day.realized_pnl <= params.daily_loss
    do: [lockout(until: reset)]
"""


def _limits(loss: str = "-$500", grace: str = "2m", rules: str = DAILY_RULE) -> str:
    return LIMITS.format(loss=loss, grace=grace, rules=rules)


async def test_engine_reload_keeps_lockouts_grace_and_defers_loosening(tmp_path: Path) -> None:
    t0 = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)  # 09:00 Chicago
    mnq = "CON.F.US.MNQ.Z26"
    rs = tmp_path / "limits.yaml"
    write(rs, _limits())
    rec = Recorder()
    async with SqliteStore(tmp_path / "state.db") as store:
        broker = RecordingBroker(simulate=False)
        engine = Engine(load_ruleset(rs), broker, store, CollectingNotifier(), lambda: t0)
        broker.state = engine.state
        await engine.start()

        async def swap(new: Ruleset) -> None:
            await engine.swap_ruleset(new)
            await rec.on_valid(new)

        # long 2: the losing fill of 1 leaves a position whose grace timer runs
        await engine.process(PositionEvent(1, 0, mnq, t0, PositionType.LONG, 2, Decimal(21000)))
        loss = TradeEvent(7, 0, mnq, t0, Decimal(21000), Decimal("-600"), Decimal(0), Side.SELL, 1)
        await engine.process(loss)
        assert engine.lockouts.account_locked
        grace = dict(engine.evaluator.timers.running)
        assert list(grace) == [f"no_stop_loss_grace|{mnq}"]

        async with RulesetWatcher(
            rs, swap, rec.on_invalid, current=engine.ruleset, rejections=store
        ) as w:
            await asyncio.wait_for(w.ready.wait(), 5)
            # the rule that set the lockout disappears and grace changes: nothing is lifted
            write(rs, _limits(grace="5m", rules=""))
            await rec.wait(valid=1)
            assert engine.lockouts.account_locked
            assert engine.evaluator.timers.running == grace
            # loosening a directional param waits for the reset; tightening is immediate
            write(rs, _limits(loss="-$800"))
            await rec.wait(valid=2)
            assert engine.ctx.params["daily_loss"] == Decimal(-500)
            assert engine.deferred_params == {"daily_loss": Decimal(-800)}
            write(rs, _limits(loss="-$400"))
            await rec.wait(valid=3)
            assert engine.ctx.params["daily_loss"] == Decimal(-400)
            # an invalid edit changes nothing in the engine
            write(rs, _limits(loss="-$300") + "  bogus_rule:\n    when: day.trades >= $1\n")
            await rec.wait(valid=3, invalid=1)
            assert engine.ruleset is rec.valid[-1]
            assert engine.ctx.params["daily_loss"] == Decimal(-400)

        versions = await store.ruleset_versions()
        assert [v.status for v in versions] == ["rejected", "active", "active", "active", "active"]
        # the loosened value arrives with the reset, and the lockout ends there (not before)
        write(rs, _limits(loss="-$800"))
        await engine.swap_ruleset(load_ruleset(rs))
        await engine.process(ClockEvent(dt.datetime(2026, 11, 24, 23, 0, tzinfo=dt.UTC)))
        assert not engine.lockouts.account_locked
        assert engine.ctx.params["daily_loss"] == Decimal(-800)
        await engine.stop()


async def test_swap_waits_for_the_event_in_progress() -> None:
    """Regression: a reload could land while an event's step awaited a store write."""
    from enginekit import Harness, fill, param, rule, ruleset
    from enginekit import at as at_s

    from rmdsl.engine.persistence import RecordTrade, Write

    gate, entered = asyncio.Event(), asyncio.Event()
    old = ruleset(rule("loss", lambda c: False), params={"limit": param("limit", Decimal(-500))})
    new = ruleset(rule("loss", lambda c: False), params={"limit": param("limit", Decimal(-400))})
    h = await Harness(old).start()
    apply = h.store.apply

    async def slow_apply(writes: Sequence[Write]) -> None:
        if any(isinstance(w, RecordTrade) for w in writes):  # the fill's write waits
            entered.set()
            await gate.wait()
        await apply(writes)

    h.store.apply = slow_apply  # type: ignore[method-assign]
    step = asyncio.create_task(h.engine.process(fill(1, at_s(1), -100)))
    await entered.wait()
    swap = asyncio.create_task(h.engine.swap_ruleset(new))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not swap.done() and h.engine.ruleset is old  # not in the middle of the event
    gate.set()
    await step
    await swap
    assert h.engine.ruleset is new and h.engine.ctx.params["limit"] == Decimal(-400)
