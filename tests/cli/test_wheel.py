"""`pip install` of the built wheel (not editable) gives a working `rmdsl` from any directory,
grammar and shipped rulesets included."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(*cmd: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc


def test_wheel_installs_and_checks_outside_the_repo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q", "-w", dist)
    (wheel,) = dist.glob("rmdsl-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    # third-party deps come from the dev venv's site-packages through a plain path entry, which
    # does not run that directory's .pth files: the editable rmdsl stays invisible
    purelib = Path(sysconfig.get_paths()["purelib"])
    new_site = next((venv / "lib").glob("python3*/site-packages"))
    (new_site / "deps.pth").write_text(f"{purelib}\n", encoding="utf-8")
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        venv / "bin" / "python",
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        wheel,
    )
    example = tmp_path / "mine.yaml"
    example.write_text(
        "rmdsl: 1\nname: mine\nparams:\n  daily_loss: -$400\nrules:\n  daily_loss:\n"
        "    when: day.realized_pnl <= params.daily_loss\n"
        "    do: [flatten, lockout(until: reset)]\n",
        encoding="utf-8",
    )
    python = venv / "bin" / "python"
    where = _run(python, "-c", "import rmdsl; print(rmdsl.__file__)", cwd=tmp_path)
    assert str(new_site) in where.stdout, where.stdout
    proc = _run(venv / "bin" / "rmdsl", "check", example.name, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mine.yaml: ok, 1 rule + no_stop_loss_grace (2m), 1 param" in proc.stdout
    shipped = new_site / "rmdsl" / "rulesets" / "topstep.yaml"
    proc = _run(venv / "bin" / "rmdsl", "check", shipped, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for page in ("index.html", "dashboard.js", "dashboard.css"):  # the dashboard, no CDN
        assert (new_site / "rmdsl" / "web" / page).is_file(), page
