"""`rmdsl sim` as a subprocess: serve, print the env, trade by hand from "another terminal",
play a script, and stop cleanly on SIGTERM; `rmdsl sim` + `rmdsl run --record` + replay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

RMDSL = [sys.executable, "-m", "rmdsl"]
RULESET = """\
rmdsl: 1
name: sim-e2e
params:
  max_mnq: 2
rules:
  mnq_contracts:
    scope: symbol
    when: symbol == "MNQ" and contracts(symbol) > params.max_mnq
    do: [reduce_position(to: params.max_mnq)]
    message: "{contracts(symbol)} MNQ open, the limit is {params.max_mnq}"
"""


def clean_env() -> dict[str, str]:
    drop = ("PROJECT_X", "PROJECTX", "RMDSL_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


class Sim:
    """A running `rmdsl sim --port 0` and the environment it printed."""

    def __init__(self, proc: subprocess.Popen[str], env: dict[str, str]) -> None:
        self.proc, self.env = proc, env

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*RMDSL, "sim", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env,
            input=stdin,
        )

    def status(self) -> dict[str, object]:
        done = self.cli("status", "--json")
        assert done.returncode == 0, done.stderr
        answer: dict[str, object] = json.loads(done.stdout)
        return answer

    def mnq(self) -> int:
        account = self.status()["accounts"][0]  # type: ignore[index]
        return sum(p["size"] for p in account["positions"] if p["contract"] == "MNQ")


def read_exports(proc: subprocess.Popen[str]) -> dict[str, str]:
    env = clean_env()
    assert proc.stdout is not None
    for line in proc.stdout:
        assert line.startswith("export "), line
        name, _, value = line.removeprefix("export ").strip().partition("=")
        env[name] = value
        if name == "RMDSL_SIM_URL":
            return env
    raise AssertionError("rmdsl sim ended before printing its environment")


@pytest.fixture
def sim() -> Iterator[Sim]:
    proc = subprocess.Popen(
        [*RMDSL, "sim", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        yield Sim(proc, read_exports(proc))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.e2e
def test_sim_prints_the_env_trades_by_hand_and_stops_on_sigterm(sim: Sim) -> None:
    env = sim.env
    assert env["PROJECTX_API_URL"] == env["RMDSL_SIM_URL"] + "/api"
    assert env["PROJECTX_USER_HUB_URL"].endswith("/hubs/user")
    assert env["PROJECTX_MARKET_HUB_URL"].endswith("/hubs/market")
    assert env["RMDSL_ACCOUNT"] == "PRAC-SIM-1"
    assert env["PROJECT_X_API_KEY"] and env["PROJECT_X_USERNAME"]
    assert env["RMDSL_SIM_URL"].startswith("http://127.0.0.1:")

    bought = sim.cli("order", "buy", "2", "MNQ")
    assert bought.returncode == 0, bought.stderr
    assert "buy 2 MNQ market -> filled" in bought.stdout
    assert sim.mnq() == 2
    stop = sim.cli("stop", "sell", "2", "MNQ", "20950")
    assert "sell 2 MNQ stop 20950 -> open" in stop.stdout
    assert "working order" in sim.cli("status").stdout
    assert sim.cli("quote", "MNQ", "21010.25").returncode == 0
    assert sim.status()["quotes"]["MNQ"] == "21010.25"  # type: ignore[index]
    closed = sim.cli("close", "MNQ")
    assert closed.returncode == 0 and "closing" in closed.stdout
    assert sim.mnq() == 0

    bad_size = sim.cli("order", "buy", "0", "MNQ")
    assert bad_size.returncode == 2 and "bad size" in bad_size.stderr
    unknown = sim.cli("order", "buy", "1", "XYZ")
    assert unknown.returncode == 1 and "Contract not found: XYZ" in unknown.stderr
    for done in (bad_size, unknown):
        assert "Traceback" not in done.stderr

    sim.proc.send_signal(signal.SIGTERM)
    assert sim.proc.wait(timeout=15) == 0
    assert sim.proc.stderr is not None
    assert "simulator stopped" in sim.proc.stderr.read()
    gone = sim.cli("status")
    assert gone.returncode == 2
    assert "no simulator answering" in gone.stderr and "Traceback" not in gone.stderr


@pytest.mark.e2e
def test_sim_plays_a_script_and_takes_commands_from_a_shell(sim: Sim, tmp_path: Path) -> None:
    script = tmp_path / "session.yaml"
    script.write_text(
        "steps:\n"
        "  - {at: 0, quote: {contract: ES, price: 6001.25}}\n"
        "  - {at: 0.2, trader: {place: {contract: ES, side: buy, size: 1}}}\n",
        encoding="utf-8",
    )
    played = sim.cli("play", str(script), "--speed", "4")
    assert played.returncode == 0, played.stderr
    assert "played 2 step(s)" in played.stdout
    account = sim.status()["accounts"][0]  # type: ignore[index]
    assert [(p["contract"], p["size"]) for p in account["positions"]] == [("ES", 1)]
    shell = sim.cli("shell", stdin="order sell 1 ES --limit 6001.25\nclose ES\nstatus\nquit\n")
    assert shell.returncode == 0, shell.stderr
    assert "sell 1 ES limit 6001.25 -> filled" in shell.stdout
    assert "flat, no working orders" in shell.stdout


@pytest.mark.e2e
@pytest.mark.slow
def test_sim_run_record_then_replay_reproduces_the_firing(sim: Sim, tmp_path: Path) -> None:
    ruleset = tmp_path / "rules.yaml"
    ruleset.write_text(RULESET, encoding="utf-8")
    log = tmp_path / "daemon.log"
    record = tmp_path / "rec" / "day.jsonl"
    daemon = subprocess.Popen(
        [
            *RMDSL,
            *("run", "--ruleset", str(ruleset), "--state", str(tmp_path / "state.db")),
            *("--record", str(record), "--log-file", str(log)),
        ],
        # what a trader sets from `rmdsl sim`'s output (a lock dir of its own: other test runs
        # on this machine enforce the simulator's account id too)
        env={**sim.env, "RMDSL_LOCK_DIR": str(tmp_path / "locks")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: log.exists() and "daemon running" in log.read_text(), 30, "the daemon")
        assert sim.cli("order", "buy", "4", "MNQ").returncode == 0
        wait_for(lambda: sim.mnq() == 2, 15, "the daemon to reduce MNQ to 2")
        time.sleep(1.0)  # the reduce's own fills reach the recording (flushed every 0.5 s)
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=20)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, err
    files = sorted(record.parent.glob("day-*.jsonl"))
    assert len(files) == 1, files  # FILE-<trading day>.jsonl
    replay = subprocess.run(
        [*RMDSL, "replay", "--ruleset", str(ruleset), str(files[0]), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    report = json.loads(replay.stdout)
    fired = [(f["rule"], f["action"]) for f in report["firings"]]
    assert fired[0] == ("mnq_contracts", "reduce_position(to=2)")
    assert report["firings"][0]["message"] == "4 MNQ open, the limit is 2"


@pytest.mark.e2e
def test_sim_interactive_serves_and_prompts_until_quit() -> None:
    done = subprocess.run(
        [*RMDSL, "sim", "--port", "0", "--interactive"],
        input="order buy 1 MNQ\nbogus\nstatus\nquit\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert done.returncode == 0, done.stderr
    assert "export PROJECTX_API_URL=http://127.0.0.1:" in done.stdout
    assert "buy 1 MNQ market -> filled" in done.stdout
    assert "invalid choice: 'bogus'" in done.stdout  # a bad line is reported, the prompt goes on
    assert "position MNQ long 1" in done.stdout
    assert "simulator stopped" in done.stderr and "Traceback" not in done.stderr


def test_port_is_taken_after_the_action_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rmdsl sim status --port N` (where a user types it) asks port N, as `sim --port N status`."""
    from rmdsl.cli import main

    monkeypatch.delenv("RMDSL_SIM_URL", raising=False)
    for argv in (["sim", "status", "--port", "1"], ["sim", "--port", "1", "status"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "no simulator answering at http://127.0.0.1:1 " in err, err
