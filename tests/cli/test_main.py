"""The CLI shell: usage errors and help never produce tracebacks."""

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rmdsl", *args], capture_output=True, text=True, timeout=60
    )


def test_no_command_is_usage_error() -> None:
    result = run()
    assert result.returncode == 2
    assert "usage: rmdsl" in result.stderr


def test_unknown_command_is_usage_error() -> None:
    result = run("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("rmdsl ")
