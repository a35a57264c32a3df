"""The daemon under test for kill9_soak.py: one `rmdsl run` subprocess, SIGKILLed and restarted.

The real CLI and the real SDK, on the simulated gateway of the soak (127.0.0.1).
Each incarnation writes its log to its own file so a violation can be read back
with the daemon's side of the story. "Live" is judged from the gateway: the
answer to the first /Trade/search of this account after the spawn (the start-up
snapshot, right before the engine reconciles and resumes deciding).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from rmdsl.broker.simgateway import SimGateway

RMDSL = [sys.executable, "-m", "rmdsl"]
STOP_TIMEOUT_S = 10.0


def daemon_env(gw: SimGateway, lock_dir: Path) -> dict[str, str]:
    """This process's environment without any ProjectX/rmdsl settings, plus the gateway's.

    The account lock lives in the soak's own directory: the gateway's account ids are
    the same in every simulated gateway, and a daemon of another run must not meet ours.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROJECT_X", "RMDSL_"))}
    env.update(gw.sdk_env(), RMDSL_LOCK_DIR=str(lock_dir))
    return env


class DaemonProc:
    """`rmdsl run --account NAME --state DB` on the soak gateway, one incarnation at a time."""

    def __init__(
        self, gw: SimGateway, account: str, account_id: int, ruleset: Path, state: Path, logs: Path
    ) -> None:
        self.gw, self.account, self.account_id = gw, account, account_id
        self.ruleset, self.state, self.logs = ruleset, state, logs
        self.proc: asyncio.subprocess.Process | None = None
        self.incarnation = 0
        self.spawn_ns = 0
        self.live_ns: int | None = None  # None while down or starting
        self.kills = 0
        self.unexpected_exits: list[str] = []

    @property
    def log_path(self) -> Path:
        return self.logs / f"{self.account}-{self.incarnation:03d}.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def spawn(self) -> None:
        """Start a new incarnation (the previous one must be gone)."""
        assert not self.running, "one daemon at a time"
        self.incarnation += 1
        self.live_ns = None
        self.logs.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as err:
            self.spawn_ns = time.monotonic_ns()
            self.proc = await asyncio.create_subprocess_exec(
                *RMDSL,
                "run",
                "--ruleset",
                str(self.ruleset),
                "--account",
                self.account,
                "--state",
                str(self.state),
                "--no-reload",
                env=daemon_env(self.gw, self.logs.parent / "locks"),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=err,
            )

    async def kill(self) -> None:
        """SIGKILL: no handler, no flush, no checkpoint; the socket just closes."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            self._note_exit()
            return
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        self.kills += 1
        self.live_ns = None

    def _live_answer_ns(self) -> int | None:
        for answer in self.gw.requests.answered("/Trade/search"):
            body = answer.request.body
            if (
                answer.request.received_ns >= self.spawn_ns
                and isinstance(body, dict)
                and body.get("accountId") == self.account_id
                and answer.status == 200
            ):
                return answer.answered_ns
        return None

    async def wait_live(self, timeout_s: float) -> bool:
        """Until this incarnation fetched its start-up snapshot; False if it died or timed out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                self._note_exit()
                return False
            found = self._live_answer_ns()
            if found is not None:
                self.live_ns = found
                return True
            await asyncio.sleep(0.02)
        return False

    def _note_exit(self) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is not None and proc.returncode != -9:
            tail = self.log_path.read_text(errors="replace").splitlines()[-5:]
            note = f"incarnation {self.incarnation} exited {proc.returncode}: {' | '.join(tail)}"
            if note not in self.unexpected_exits:
                self.unexpected_exits.append(note)

    async def stop(self) -> None:
        """SIGTERM (a clean stop), SIGKILL if it does not exit in time."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
        self.live_ns = None
