"""`rmdsl check` as a user runs it: exit codes, JSON output, and no traceback for any input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def rmdsl(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rmdsl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
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


# Files that are never read: a hang shows up as subprocess.TimeoutExpired (the old behaviour).
QUICK = 20.0


def test_a_device_is_refused_unread() -> None:
    proc = rmdsl("check", "/dev/zero", timeout=QUICK)
    assert_clean(proc, 2)
    assert "/dev/zero: error: is a character device, not a regular file" in proc.stderr


def test_a_fifo_is_refused_unopened(tmp_path: Path) -> None:
    fifo = tmp_path / "rules.yaml"
    os.mkfifo(fifo)  # nobody writes: opening it for reading without O_NONBLOCK blocks forever
    proc = rmdsl("check", str(fifo), timeout=QUICK)
    assert_clean(proc, 2)
    assert "is a FIFO (named pipe), not a regular file" in proc.stderr
    child = _write(tmp_path, "child.yaml", b"rmdsl: 1\nname: c\nextends: rules.yaml\n")
    proc = rmdsl("check", str(child), timeout=QUICK)
    assert_clean(proc, 1)
    assert "child.yaml:3:10: error[RM407]: extended file `" in proc.stdout
    assert "is not a file (a device, a FIFO or a socket)" in proc.stdout


def test_a_device_as_a_base_is_rm407(tmp_path: Path) -> None:
    child = _write(tmp_path, "child.yaml", b"rmdsl: 1\nname: c\nextends: /dev/zero\n")
    proc = rmdsl("check", str(child), timeout=QUICK)
    assert_clean(proc, 1)
    assert "child.yaml:3:10: error[RM407]: extended file `/dev/zero` is not a file" in proc.stdout


def test_an_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(4 * 1024**3)  # sparse: 4 GiB that reading would have to fill with zeros
    proc = rmdsl("check", str(big), timeout=QUICK)
    assert_clean(proc, 1)
    assert "error[RM002]: file is too large (4294967296 bytes)" in proc.stdout
    child = _write(tmp_path, "child.yaml", b"rmdsl: 1\nname: c\nextends: big.yaml\n")
    proc = rmdsl("check", str(child), timeout=QUICK)
    assert_clean(proc, 1)
    assert "big.yaml: error[RM002]: file is too large" in proc.stdout


def test_nul_in_an_extends_path_is_a_located_error(tmp_path: Path) -> None:
    child = _write(tmp_path, "child.yaml", b'rmdsl: 1\nname: c\nextends: "base\\0.yaml"\n')
    proc = rmdsl("check", str(child), timeout=QUICK)
    assert_clean(proc, 1)
    assert "child.yaml:3:10: error[RM402]: `extends` path `" in proc.stdout
    assert "base\\x00.yaml` is not a usable file path: contains a NUL byte" in proc.stdout


def test_an_extends_chain_shares_the_size_limit(tmp_path: Path) -> None:
    padding = b"# padding padding padding padding padding padding padding padding\n" * 4_000
    base = _write(tmp_path, "base.yaml", b"rmdsl: 1\nname: b\n" + padding)  # 264 kB: fine alone
    child_text = b"rmdsl: 1\nname: c\nextends: base.yaml\n" + padding
    child = _write(tmp_path, "child.yaml", child_text)
    assert_clean(rmdsl("check", str(base)), 0)
    proc = rmdsl("check", str(child), timeout=QUICK)
    assert_clean(proc, 1)
    size, before = base.stat().st_size, len(child_text)
    assert f"base.yaml: error[RM002]: file is too large ({size} bytes after {before}" in proc.stdout


def test_too_many_yaml_values_stop_the_parser(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "list.yaml", b"rmdsl: 1\nname: t\nholidays: [" + b"1," * 200_000 + b"1]\n"
    )
    proc = rmdsl("check", str(path), timeout=QUICK)
    assert_clean(proc, 1)
    assert "list.yaml:3:" in proc.stdout
    assert "error[RM014]: more than 50000 YAML values (with the files it extends)" in proc.stdout


def test_too_many_rules_are_refused_before_compiling(tmp_path: Path) -> None:
    rules = "".join(f"  r{i}: {{when: day.trades > {i}, do: [alert]}}\n" for i in range(1001))
    path = _write(tmp_path, "many.yaml", f"rmdsl: 1\nname: t\nrules:\n{rules}".encode())
    proc = rmdsl("check", str(path), timeout=QUICK)
    assert_clean(proc, 1)
    assert "many.yaml:1004:3: error[RM015]: more than 1000 rules" in proc.stdout


def test_rmdsl_test_with_a_nul_in_its_ruleset_path(tmp_path: Path) -> None:
    spec = _write(tmp_path, "t_test.yaml", b'ruleset: "rules\\0.yaml"\ntests: []\n')
    proc = rmdsl("test", str(spec), timeout=QUICK)
    assert_clean(proc, 2)
    assert "rules\\x00.yaml: error: cannot read: the path contains a NUL byte" in proc.stderr


def test_replay_refuses_a_device_as_its_recording() -> None:
    proc = rmdsl("replay", "-r", "rulesets/topstep.yaml", "/dev/zero", timeout=QUICK)
    assert_clean(proc, 2)
    assert "cannot read /dev/zero: is a character device" in proc.stderr


def test_unreadable_file_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "secret.yaml", b"rmdsl: 1\nname: t\n")
    path.chmod(0)
    try:
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


def test_schema_lists_issue_12_exposure_names_reduce_only_and_until_a_time() -> None:
    text = rmdsl("schema").stdout
    assert "reduce_only(until: reset|session_start|can_trade|duration|time)" in text
    assert "lockout(until: reset|session_start|can_trade|duration|time)" in text
    data = json.loads(rmdsl("schema", "--format", "json").stdout)
    names = {n["name"] for n in data["names"]}
    assert names >= {
        "positions.exposure",
        "positions.mini_equivalents",
        "positions.exposure_mini_equivalents",
        "position.mini_equivalents",
        "order.is_entry",
    }
    [action] = [a for a in data["actions"] if a["name"] == "reduce_only"]
    assert action["args"] == [
        {"name": "until", "type": "reset|session_start|can_trade|duration|time", "required": True}
    ]
