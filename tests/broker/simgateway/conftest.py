"""Fixtures: a simulated gateway per test, and the real SDK configured only through its env."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rmdsl.broker.simgateway import SimGateway


@pytest.fixture
async def gw() -> AsyncIterator[SimGateway]:
    async with SimGateway() as gateway:
        yield gateway


@pytest.fixture
def sdk_env(gw: SimGateway, monkeypatch: pytest.MonkeyPatch) -> SimGateway:
    for name, value in gw.sdk_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PROJECT_X_ACCOUNT_NAME", raising=False)
    return gw
