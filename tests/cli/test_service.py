"""`rmdsl service`: the systemd user unit under $XDG_CONFIG_HOME (a temporary one here: the
autouse fixture of tests/conftest.py), systemctl faked on PATH (never the real one)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rmdsl.cli import main
from rmdsl.commands.service import render, unit_path
from rmdsl.config import config_home

FAKE = """#!/bin/sh
echo "$@" >> "{log}"
case "$*" in *is-active*) echo active ;; esac
exit {code}
"""


def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int = 0) -> Path:
    bin_dir, log = tmp_path / "bin", tmp_path / "systemctl.log"
    bin_dir.mkdir()
    script = bin_dir / "systemctl"
    script.write_text(FAKE.format(log=log, code=code))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return log


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "my rmdsl.toml"  # a space: quoted in ExecStart
    path.write_text('account = "A"\nruleset = "/r/topstep.yaml"\n', encoding="utf-8")
    return path


def test_the_unit_lives_under_xdg_config_home() -> None:
    assert unit_path() == config_home() / "systemd" / "user" / "rmdsl.service"
    assert str(unit_path()).startswith(os.environ["XDG_CONFIG_HOME"])


def test_install_writes_the_unit_and_enables_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = fake_systemctl(tmp_path, monkeypatch)
    assert main(["service", "install", "--config", str(config)]) == 0
    text = unit_path().read_text()
    exec_start = next(ln for ln in text.splitlines() if ln.startswith("ExecStart="))
    assert exec_start.endswith(f'run --config "{config}"')
    assert Path(exec_start.removeprefix("ExecStart=").split(" ")[0]).is_absolute()
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
    assert log.read_text().splitlines() == [
        "--user daemon-reload",
        "--user enable --now rmdsl.service",
    ]
    assert "loginctl enable-linger" in capsys.readouterr().out


def test_status_shows_installed_and_active_then_uninstall_removes_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = fake_systemctl(tmp_path, monkeypatch)
    assert main(["service", "status"]) == 1
    assert "not installed" in capsys.readouterr().out
    main(["service", "install", "--config", str(config)])
    capsys.readouterr()
    assert main(["service", "status"]) == 0
    out = capsys.readouterr().out
    assert f"installed: {unit_path()}" in out and "state: active" in out
    assert main(["service", "uninstall"]) == 0
    assert not unit_path().exists()
    assert log.read_text().splitlines()[-2:] == [
        "--user disable --now rmdsl.service",
        "--user daemon-reload",
    ]


def test_without_systemctl_it_says_what_to_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    assert main(["service", "install", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "systemctl --user daemon-reload" in out and "systemctl --user enable --now" in out
    assert unit_path().is_file()
    assert main(["service", "status"]) == 0
    assert "systemctl is not available" in capsys.readouterr().out


def test_a_failing_systemctl_is_reported(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_systemctl(tmp_path, monkeypatch, code=1)
    assert main(["service", "install", "--config", str(config)]) == 1
    assert "`systemctl --user daemon-reload` failed (1)" in capsys.readouterr().err


def test_install_without_a_config_file_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["service", "install"]) == 2
    assert "no config file at" in capsys.readouterr().err
    assert not unit_path().exists()


def test_install_of_a_config_without_a_ruleset_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = fake_systemctl(tmp_path, monkeypatch)
    bare = tmp_path / "rmdsl.toml"
    bare.write_text('account = "A"\n', encoding="utf-8")
    monkeypatch.setenv("RMDSL_RULESET", str(tmp_path / "r.yaml"))  # the unit never sees it
    assert main(["service", "install", "--config", str(bare)]) == 2
    err = capsys.readouterr().err
    assert f"{bare} names no ruleset" in err and 'ruleset = "/path/to' in err
    assert not unit_path().exists() and not log.exists()


def test_print_writes_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["service", "install", "--print", "--config", str(config)]) == 0
    assert capsys.readouterr().out.startswith("# Written by `rmdsl service install`")
    assert not unit_path().exists()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path: Path, config: Path) -> None:
    unit = tmp_path / "rmdsl.service"
    unit.write_text(render(config))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=30
    )
    complaints = [ln for ln in done.stderr.splitlines() if str(unit) in ln]
    assert done.returncode == 0 and not complaints, done.stderr
