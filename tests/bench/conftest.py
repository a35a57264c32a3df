"""The kill -9 soak's modules live in benchmarks/ (scripts, not a package): put it on the path."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rmdsl.broker.simgateway import SimGateway

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))


@pytest.fixture
async def gw() -> AsyncIterator[SimGateway]:
    async with SimGateway() as gateway:
        yield gateway
