"""`rmdsl run` never enforces a default ruleset on a real account: without one named by the
flag, the environment or the config file it refuses to start and says how (a golden text);
`rmdsl demo`, on a simulated account, keeps the shipped default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rmdsl.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests/golden/run/no_ruleset.expected"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Credentials and an account set, no ruleset anywhere, no config file to be found."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RMDSL_", "PROJECT_X_"))}
    env.update(
        PROJECT_X_API_KEY="k",
        PROJECT_X_USERNAME="u",
        RMDSL_ACCOUNT="PRAC-1",
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rmdsl", "run", "--state", str(tmp_path / "s.db"), *args],
        capture_output=True,
        text=True,
        env=_env(tmp_path, **env),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_run_without_a_ruleset_refuses_and_names_the_three_ways(tmp_path: Path) -> None:
    proc = _run(tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == GOLDEN.read_text(encoding="utf-8")


def test_the_refusal_comes_before_any_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RMDSL_RULESET", raising=False)
    monkeypatch.delenv("RMDSL_CONFIG", raising=False)
    assert main(["run", "--state", str(tmp_path / "s.db")]) == 2
    assert "no ruleset named" in capsys.readouterr().err
    assert not (tmp_path / "s.db").exists()  # nothing was opened


@pytest.mark.parametrize("way", ["flag", "environment", "config"])
def test_each_of_the_three_ways_names_the_ruleset(tmp_path: Path, way: str) -> None:
    missing = tmp_path / "mine.yaml"  # named but absent: the next check, past the refusal
    args: list[str] = []
    env: dict[str, str] = {}
    if way == "flag":
        args = ["--ruleset", str(missing)]
    elif way == "environment":
        env = {"RMDSL_RULESET": str(missing)}
    else:
        config = tmp_path / "rmdsl.toml"
        config.write_text(f'ruleset = "{missing}"\n', encoding="utf-8")
        args = ["--config", str(config)]
    proc = _run(tmp_path, *args, **env)
    assert proc.returncode == 2
    assert proc.stderr == f"rmdsl run: error: no ruleset file at {missing}\n"


def test_with_many_accounts_each_may_name_its_own_or_none_is_enforced() -> None:
    from rmdsl.commands.run import named_ruleset
    from rmdsl.config import RunConfig

    def fleet(*items: object, **top: object) -> RunConfig:
        return RunConfig.model_validate({"accounts": list(items), **top})

    mine = {"name": "A", "ruleset": "/r/a.yaml"}
    assert named_ruleset(fleet(mine, {"name": "B", "ruleset": "/r/b.yaml"})) == Path("/r/a.yaml")
    assert named_ruleset(fleet(mine, "B")) is None  # B would run on nothing named
    assert named_ruleset(fleet(mine, "B", ruleset="/r/all.yaml")) == Path("/r/all.yaml")
    assert named_ruleset(RunConfig(account="A")) is None
