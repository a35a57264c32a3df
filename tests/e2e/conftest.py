"""End-to-end fixtures: the simulated gateway on a session clock, the real SDK, a live daemon.

Helpers live in e2ekit.py: a module named `conftest` cannot be imported reliably
from tests (another folder's conftest may own that name).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from e2ekit import RULES, Live, StartDaemon, TapStore

from rmdsl.daemon import Daemon
from rmdsl.demo.sim import SimAccount
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset


@pytest.fixture
async def start_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StartDaemon]:
    """start_daemon(ruleset_path=RULES) -> Live; everything is stopped after the test."""
    stack: list[tuple[SimAccount, Daemon]] = []

    async def start(
        ruleset_path: Path = RULES,
        speed: float = 1.0,
        reload: bool = False,
        broker: dict[str, Any] | None = None,
        gateway: dict[str, Any] | None = None,
        **daemon: Any,
    ) -> Live:
        """`broker`: ProjectXBroker options (short watchdog bounds); `gateway`: SimGateway
        settings (shuffle_seed, user_push_gap_s, ...); `daemon`: Daemon options."""
        sim = SimAccount(load_ruleset(ruleset_path), speed=speed, **(gateway or {}))
        await sim.start()
        for name, value in sim.env().items():
            monkeypatch.setenv(name, value)
        store_path = tmp_path / f"state{len(stack)}.db"
        notifier = CollectingNotifier()
        daemon = Daemon(
            ruleset_path,
            sim.broker(**(broker or {})),
            TapStore(store_path),
            notifier,
            clock=sim.now,
            tick_s=0.05,
            reload=reload,
            **daemon,
        )
        stack.append((sim, daemon))
        await daemon.start()
        return Live(sim, daemon, store_path, notifier)

    yield start
    for sim, daemon in reversed(stack):
        await daemon.stop()
        await sim.stop()
