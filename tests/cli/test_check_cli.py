"""`rmdsl check` as a user runs it: exit codes, JSON output, and no traceback for any input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def rmdsl(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rmdsl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_clean(proc: subprocess.CompletedProcess[str], code: int) -> None:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "internal error" not in proc.stdout + proc.stderr


def test_shipped_rulesets_and_examples_are_valid() -> None:
    files = [str(p.relative_to(ROOT)) for p in sorted(ROOT.glob("rulesets/**/*.yaml"))]
    files += [str(p.relative_to(ROOT)) for p in sorted(ROOT.glob("examples/*.yaml"))]
    proc = rmdsl("check", *files)
    assert_clean(proc, 0)
    assert "rulesets/topstep.yaml: ok," in proc.stdout


def test_invalid_examples_exit_1() -> None:
    for path in sorted((ROOT / "examples" / "invalid").glob("*.yaml")):
        assert_clean(rmdsl("check", str(path)), 1)


def test_missing_file_and_directory_exit_2(tmp_path: Path) -> None:
    proc = rmdsl("check", str(tmp_path / "nope.yaml"))
    assert_clean(proc, 2)
    assert "no such file" in proc.stderr
    assert_clean(rmdsl("check", str(tmp_path)), 2)


def test_usage_error_exit_2() -> None:
    assert_clean(rmdsl("check"), 2)


def test_worst_exit_code_wins(tmp_path: Path) -> None:
    bad = ROOT / "examples" / "invalid" / "disabled-grace.yaml"
    assert_clean(rmdsl("check", "rulesets/topstep.yaml", str(bad)), 1)
    assert_clean(rmdsl("check", str(bad), str(tmp_path / "missing.yaml")), 2)


def test_json_output(tmp_path: Path) -> None:
    bad = ROOT / "examples" / "invalid" / "loosened-limit.yaml"
    proc = rmdsl("check", "--format", "json", "rulesets/topstep.yaml", str(bad))
    assert_clean(proc, 1)
    data = json.loads(proc.stdout)
    assert data["ok"] is False
    good, invalid = data["files"]
    assert good["ok"] is True and "no_stop_loss_grace" in good["rules"]
    (diag,) = invalid["diagnostics"]
    assert diag["code"] == "RM404" and diag["line"] == 6 and diag["severity"] == "error"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _deep_parens(n: int) -> bytes:
    expr = "(" * n + "day.trades > 1" + ")" * n
    return f"rmdsl: 1\nname: t\nrules:\n  x:\n    when: '{expr}'\n    do: [alert]\n".encode()


def _long_expr(n: int) -> bytes:
    expr = " + ".join(["day.trades"] * n) + " > 1"
    return f"rmdsl: 1\nname: t\nrules:\n  x:\n    when: {expr}\n    do: [alert]\n".encode()


HOSTILE = {
    "binary.yaml": bytes(range(256)) * 4,
    "empty.yaml": b"",
    "list.yaml": b"- 1\n- 2\n",
    "scalar.yaml": b"just text\n",
    "parens.yaml": _deep_parens(10_000),
    "terms.yaml": _long_expr(20_000),
    "deep_yaml.yaml": b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
    "deep_block.yaml": "".join(f"{'  ' * i}k{i}:\n" for i in range(3000)).encode(),
    "huge.yaml": b"rmdsl: 1\nname: t\n" + b"# padding padding padding padding\n" * 150_000,
    "utf16.yaml": "rmdsl: 1\nname: t\n".encode("utf-16"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_a_clean_error(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, name, HOSTILE[name])
    proc = rmdsl("check", str(path))
    assert_clean(proc, 1)
    assert "error[RM" in proc.stdout


def test_huge_file_is_rm002(tmp_path: Path) -> None:
    path = _write(tmp_path, "huge.yaml", HOSTILE["huge.yaml"])
    assert "error[RM002]" in rmdsl("check", str(path)).stdout


def test_unreadable_file_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "secret.yaml", b"rmdsl: 1\nname: t\n")
    path.chmod(0)
    try:
        import os

        if os.access(path, os.R_OK):  # running as root: permissions do not apply
            pytest.skip("root can read any file")
        assert_clean(rmdsl("check", str(path)), 2)
    finally:
        path.chmod(0o644)


def test_schema_command() -> None:
    proc = rmdsl("schema")
    assert_clean(proc, 0)
    assert "day.realized_pnl" in proc.stdout and "lockout" in proc.stdout
    data = json.loads(rmdsl("schema", "--format", "json").stdout)
    assert {n["name"] for n in data["names"]} >= {"day.realized_pnl", "position.has_stop"}
    schema = json.loads(rmdsl("schema", "--json-schema").stdout)
    assert schema["required"] == ["rmdsl", "name"]
