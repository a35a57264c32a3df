"""Many accounts in one daemon, in process: isolation between accounts, per-account claims,
the config's accounts followed live (docs/operations.md, "Many accounts").

Each account has a recording broker of its own (no gateway); the one that hangs
holds its close until the test releases it, so nothing here waits on a timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import pytest

from rmdsl import configfile
from rmdsl.accounts import AccountEntry
from rmdsl.contract.broker import EventSink, Snapshot
from rmdsl.contract.events import AccountEvent, PositionEvent, PositionType
from rmdsl.daemon import Daemon
from rmdsl.dashboard.feed import FLEET_HISTORY
from rmdsl.enforce.recording_broker import RecordingBroker
from rmdsl.errors import BrokerError
from rmdsl.lang.context import EvalContext
from rmdsl.metrics import DAEMON
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset
from rmdsl.rules.model import Rule, Ruleset
from rmdsl.store.lock import probe
from rmdsl.tooling.memory_store import MemoryStore

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
MNQ = "CON.F.US.MNQ.H26"
RULESET = """rmdsl: 1
name: {name}
rules:
  mnq_contracts:
    scope: symbol
    when: symbol == "MNQ" and contracts(symbol) > 2
    do: [reduce_position(to: 2)]
"""
IDS = {"ACC-A": 101, "ACC-B": 102, "ACC-C": 103, "ACC-D": 104}


class AccountBroker(RecordingBroker):
    """One account's broker; `hang`: its closes wait for `release` (a stuck gateway call)."""

    def __init__(self, name: str) -> None:
        super().__init__(simulate=False)
        self.account_name, self.account_id = name, IDS[name]
        self.sink: EventSink | None = None
        self.hang = False
        self.release = asyncio.Event()
        self.closes_done = 0

    async def connect(self, sink: EventSink) -> None:
        self._record("connect")
        self.sink = sink

    async def snapshot(self) -> Snapshot:
        self._record("snapshot")
        account = AccountEvent(self.account_id, self.account_name, Decimal(50000), True, NOW)
        return Snapshot(account, (), (), ())

    async def partial_close(self, contract_id: str, size: int) -> None:
        self._record("partial_close", contract_id, size)
        if self.hang:
            await self.release.wait()
        self.closes_done += 1

    async def push(self, size: int, pid: int) -> None:
        assert self.sink is not None
        kind = PositionType.LONG if size else PositionType.UNDEFINED
        await self.sink(PositionEvent(pid, self.account_id, MNQ, NOW, kind, size, Decimal(21000)))

    def closes(self) -> int:
        return sum(1 for c in self.calls if c.method == "partial_close")


class Login:
    """An AccountSource over recording brokers (a fresh broker per start, as a login's)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.listed = names
        self.made: dict[str, list[AccountBroker]] = {}
        self.fail: BrokerError | None = None  # /Account/search failing

    async def names(self) -> list[str]:
        if self.fail is not None:
            raise self.fail
        return list(self.listed)

    def broker(self, name: str) -> AccountBroker:
        broker = AccountBroker(name)
        self.made.setdefault(name, []).append(broker)
        return broker

    def last(self, name: str) -> AccountBroker:
        return self.made[name][-1]

    async def close(self) -> None:
        return None


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def ruleset(tmp_path: Path, name: str = "fleet") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(RULESET.format(name=name), encoding="utf-8")
    return path


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    daemons: list[Daemon] = []

    async def start(entries: list[AccountEntry], login: Login, **options: object) -> Daemon:
        options = {"clock": lambda: NOW, "tick_s": 0.05, "reload": False, **options}
        daemon = Daemon.for_accounts(entries, login, MemoryStore(), CollectingNotifier(), **options)
        daemons.append(daemon)
        await daemon.start()
        return daemon

    yield start
    for daemon in reversed(daemons):
        await daemon.stop()


async def test_a_hanging_close_on_one_account_never_delays_the_others(
    tmp_path: Path, started: Callable[..., object]
) -> None:
    login = Login(("ACC-A", "ACC-B", "ACC-C"))
    daemon: Daemon = await started([AccountEntry("ACC-*", ruleset(tmp_path))], login)  # type: ignore[misc]
    a, b, c = (login.last(n) for n in ("ACC-A", "ACC-B", "ACC-C"))
    a.hang = True
    for step in range(1, 4):  # interleaved bursts: A breaks first, its close hangs
        for broker in (a, b, c):
            await broker.push(step, pid=broker.account_id)
    await until(lambda: a.closes() == 1, "A's close to be sent (and hang)")
    for n in range(20):  # more traffic on every account while A's close hangs
        for broker in (a, b, c):
            await broker.push(3 + n % 2, pid=broker.account_id)
    await until(lambda: b.closes_done >= 1 and c.closes_done >= 1, "B's and C's closes")
    assert a.closes_done == 0, "B and C were enforced while A's call was still stuck"
    for sup in daemon.accounts.values():
        engine = sup.engine
        assert engine is not None
        assert [p.id for p in engine.state.positions.values()] == [sup.account_id]  # its own
        assert engine.state.account_id == IDS[sup.name]
    a.release.set()
    await until(lambda: a.closes_done >= 1, "A's close to finish once released")


async def test_a_refused_reload_on_one_ruleset_file_leaves_the_other_accounts_reloaded(
    tmp_path: Path, started: Callable[..., object]
) -> None:
    login = Login(("ACC-A", "ACC-B"))
    first, second = ruleset(tmp_path, "first"), ruleset(tmp_path, "second")
    entries = [AccountEntry("ACC-A", first), AccountEntry("ACC-B", second)]
    daemon: Daemon = await started(entries, login, reload=True)  # type: ignore[misc]
    notifier = daemon.notifier
    assert isinstance(notifier, CollectingNotifier)
    first.write_text(RULESET.format(name="first-v2"), encoding="utf-8")
    second.write_text("rmdsl: 1\nname: broken\nrules:\n  x:\n    when: day.nonsense > 1\n")
    assert await daemon.fleet.watchers[first].reload()
    assert not await daemon.fleet.watchers[second].reload()
    by_name = {s.name: s for s in daemon.accounts.values()}
    assert by_name["ACC-A"].ruleset is not None and by_name["ACC-A"].ruleset.name == "first-v2"
    assert by_name["ACC-B"].ruleset is not None and by_name["ACC-B"].ruleset.name == "second"
    refused = [a for a in notifier.alerts if a.title == "[ACC-B] ruleset reload refused"]
    assert [a.fields["account"] for a in refused] == ["ACC-B"]
    assert refused[0].body.startswith("ACC-B: at ")
    await login.last("ACC-B").push(3, pid=9)  # B still enforces its running ruleset
    await until(lambda: login.last("ACC-B").closes() == 1, "B's close")


async def test_a_rule_that_raises_on_one_account_leaves_the_others_enforcing(
    tmp_path: Path, started: Callable[..., object]
) -> None:
    broken, fine = ruleset(tmp_path, "broken"), ruleset(tmp_path, "fine")

    def load(path: Path) -> Ruleset:
        loaded = load_ruleset(path)
        if path != broken:
            return loaded
        return dataclasses.replace(loaded, rules=tuple(_raising(r) for r in loaded.rules))

    login = Login(("ACC-A", "ACC-B"))
    entries = [AccountEntry("ACC-A", broken), AccountEntry("ACC-B", fine)]
    daemon: Daemon = await started(entries, login, load=load)  # type: ignore[misc]
    a, b = login.last("ACC-A"), login.last("ACC-B")
    for size in (1, 2, 3):
        await a.push(size, pid=1)
        await b.push(size, pid=2)
    await until(lambda: b.closes() == 1, "B's close")
    by_name = {s.name: s for s in daemon.accounts.values()}
    assert by_name["ACC-A"].metrics.rule_errors == {"mnq_contracts": 3}
    assert by_name["ACC-B"].metrics.rule_errors == {}
    assert a.closes() == 0


def _raising(rule: Rule) -> Rule:
    def boom(ctx: EvalContext) -> bool:
        raise ZeroDivisionError("division by zero")

    return dataclasses.replace(rule, when=boom)


async def test_a_second_daemon_refuses_the_held_account_naming_the_holder_and_runs_the_rest(
    tmp_path: Path, started: Callable[..., object]
) -> None:
    locks, rules = tmp_path / "locks", ruleset(tmp_path)
    first: Daemon = await started(  # type: ignore[misc]
        [AccountEntry("ACC-A", rules), AccountEntry("ACC-B", rules)],
        Login(("ACC-A", "ACC-B", "ACC-C")),
        lock_dir=locks,
    )
    login = Login(("ACC-A", "ACC-B", "ACC-C"))
    second: Daemon = await started(  # type: ignore[misc]
        [AccountEntry("ACC-B", rules), AccountEntry("ACC-C", rules)], login, lock_dir=locks
    )
    assert {s.name for s in first.accounts.values()} == {"ACC-A", "ACC-B"}
    assert {s.name for s in second.accounts.values()} == {"ACC-C"}
    why = str(second.fleet.refused["ACC-B"])
    holder = probe(IDS["ACC-B"], locks)
    assert not isinstance(holder, bool)
    assert f"account {IDS['ACC-B']} is already enforced by rmdsl pid {holder.pid}" in why
    assert holder.since.strftime("%Y-%m-%d %H:%M:%S UTC") in why
    notifier = second.notifier
    assert isinstance(notifier, CollectingNotifier)
    assert "account already enforced" in notifier.titles()
    assert [c.method for c in login.last("ACC-B").calls] == ["connect", "disconnect"]


async def test_a_single_account_daemon_that_is_refused_still_fails_to_start(
    tmp_path: Path, started: Callable[..., object]
) -> None:
    locks, rules = tmp_path / "locks", ruleset(tmp_path)
    await started([AccountEntry("ACC-A", rules)], Login(("ACC-A",)), lock_dir=locks)
    daemon = Daemon.for_accounts(
        [AccountEntry("ACC-A", rules)], Login(("ACC-A",)), MemoryStore(), CollectingNotifier(),
        clock=lambda: NOW, reload=False, lock_dir=locks,
    )  # fmt: skip
    with pytest.raises(Exception, match="is already enforced by rmdsl pid"):
        await daemon.start()


async def test_config_edits_add_and_remove_accounts_and_a_broken_edit_changes_nothing(
    tmp_path: Path, started: Callable[..., object]
) -> None:
    locks, rules = tmp_path / "locks", ruleset(tmp_path)
    config = tmp_path / "rmdsl.toml"
    config.write_text(f'ruleset = "{rules}"\naccounts = ["ACC-A", "ACC-B"]\n', encoding="utf-8")

    async def reconfigure() -> list[AccountEntry]:
        return configfile.load(config, {}, env={}).account_entries(rules)

    login = Login(("ACC-A", "ACC-B", "ACC-C", "ACC-D"))
    daemon: Daemon = await started(  # type: ignore[misc]
        await reconfigure(),
        login,
        reload=True,
        lock_dir=locks,
        reconfigure=reconfigure,
        config_path=config,
    )
    watcher = daemon.config_watcher
    assert watcher is not None
    await asyncio.wait_for(watcher.ready.wait(), 5)
    assert probe(IDS["ACC-B"], locks) and not probe(IDS["ACC-C"], locks)
    config.write_text(f'ruleset = "{rules}"\naccounts = ["ACC-A", "ACC-[CD]"]\n')
    await until(lambda: watcher.applied == 1, "the edit to be applied")
    assert {s.name for s in daemon.accounts.values()} == {"ACC-A", "ACC-C", "ACC-D"}
    assert probe(IDS["ACC-B"], locks) is False  # B's claim released
    assert [c.method for c in login.last("ACC-B").calls][-1] == "disconnect"
    assert probe(IDS["ACC-C"], locks) and probe(IDS["ACC-D"], locks)
    await login.last("ACC-C").push(3, pid=5)  # the added account is enforced
    await until(lambda: login.last("ACC-C").closes() == 1, "C's close")
    other = ruleset(tmp_path, "other")  # A moves to another file: swapped, its state kept
    config.write_text(
        f'ruleset = "{rules}"\naccounts = [{{ name = "ACC-A", ruleset = "{other}" }}, "ACC-[CD]"]\n'
    )
    await until(lambda: watcher.applied == 2, "the ruleset change to be applied")
    a = next(s for s in daemon.accounts.values() if s.name == "ACC-A")
    assert a.ruleset is not None and a.ruleset.name == "other" and a.ruleset_path == other
    assert len(login.made["ACC-A"]) == 1  # not restarted
    config.write_text('accounts = ["ACC-A"]\nalert_window = -5\n')  # broken: nothing changes
    await until(lambda: watcher.refused == 1, "the broken edit to be refused")
    assert {s.name for s in daemon.accounts.values()} == {"ACC-A", "ACC-C", "ACC-D"}
    notifier = daemon.notifier
    assert isinstance(notifier, CollectingNotifier)
    refused = next(a for a in notifier.alerts if a.title == "config reload refused")
    assert "alert_window" in refused.body and "RM902" in refused.body
    login.fail = BrokerError("list accounts: Server error: 500")  # the login cannot answer
    config.write_text(f'ruleset = "{rules}"\naccounts = ["ACC-A"]\n')
    await until(lambda: watcher.refused == 2, "the edit that cannot be resolved now")
    assert {s.name for s in daemon.accounts.values()} == {"ACC-A", "ACC-C", "ACC-D"}
    assert "Server error: 500" in notifier.alerts[-1].body


async def test_accounts_persist_the_daemons_shared_series_once_and_their_errors_each(
    tmp_path: Path, started: Callable[..., object]
) -> None:
    """Every account's maintenance (here the last one, at stop) used to write the daemon's
    shared latency series again under its own id: N copies of the same rows."""
    login = Login(("ACC-A", "ACC-B", "ACC-C"))
    daemon: Daemon = await started([AccountEntry("ACC-*", ruleset(tmp_path))], login)  # type: ignore[misc]
    store = daemon.store
    assert isinstance(store, MemoryStore)
    await daemon.stop()
    rss = [(m.account_id, m.ts) for m in store.metrics if m.name == "rss_mb.p50"]
    assert [account for account, _ in rss] == [DAEMON]
    series = {(m.name, m.label) for m in store.metrics if m.name != "rule_errors.count"}
    rows = [m for m in store.metrics if m.name != "rule_errors.count"]
    assert len(rows) == len(series) and {m.account_id for m in rows} == {DAEMON}


async def test_each_account_of_a_fleet_holds_fewer_recent_records_in_memory(
    tmp_path: Path, started: Callable[..., object]
) -> None:
    """200 accounts x the one-account page's 200 records were ~40 MB held (the hour-long
    fleet run); the state database keeps every record for `rmdsl history`."""
    login = Login(("ACC-A", "ACC-B"))
    daemon: Daemon = await started([AccountEntry("ACC-*", ruleset(tmp_path))], login)  # type: ignore[misc]
    feeds = [s.feed for s in daemon.accounts.values()]
    assert len(feeds) == 2 and {f.records.maxlen for f in feeds} == {FLEET_HISTORY}
