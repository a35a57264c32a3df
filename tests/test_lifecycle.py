"""The shared async-with protocol: start on enter, stop on exit even when the body fails."""

import pytest

from rmdsl.lifecycle import Service


class Recorder(Service):
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")


async def test_stop_runs_even_when_the_body_raises() -> None:
    svc = Recorder()
    with pytest.raises(RuntimeError):
        async with svc as entered:
            assert entered is svc
            raise RuntimeError("boom")
    assert svc.calls == ["start", "stop"]
