"""rmdsl.toml: precedence (flag > env > file > default), located errors, credentials kept out
of it and read only from a private file, `rmdsl schema --config`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rmdsl.cli import build_parser, main
from rmdsl.commands import run as run_cmd
from rmdsl.config import RunConfig, default_config_path

CREDS = ("PROJECT_X_API_KEY", "PROJECT_X_USERNAME")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("RMDSL_", "PROJECT_X_")):
            monkeypatch.delenv(name)


def settings(*argv: str) -> RunConfig:
    parser, _ = build_parser()
    return run_cmd.settings(parser.parse_args(["run", *argv]))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg_file = write(
        tmp_path / "rmdsl.toml",
        'account = "FILE"\nstate = "~/s.db"\nalert_window = 5\nlog_level = "debug"\n',
    )
    monkeypatch.setenv("RMDSL_ACCOUNT", "ENV")
    monkeypatch.setenv("RMDSL_ALERT_WINDOW", "7")
    cfg = settings("--config", str(cfg_file), "--alert-window", "9")
    assert cfg.account == "ENV"  # env over file
    assert cfg.alert_window == 9  # flag over env
    assert cfg.log_level == "debug"  # file over default
    assert cfg.log_format == "text" and cfg.reload  # defaults
    assert cfg.state == Path("~/s.db").expanduser()
    assert not settings("--config", str(cfg_file), "--no-reload").reload


def test_the_default_file_is_found_under_xdg_config_home_and_rmdsl_config_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = default_config_path()
    default.parent.mkdir(parents=True)
    write(default, 'account = "DEFAULT"\n')
    assert settings().account == "DEFAULT"
    monkeypatch.setenv("RMDSL_CONFIG", str(write(tmp_path / "other.toml", 'account = "OTHER"\n')))
    assert settings().account == "OTHER"


def test_alert_urls_from_the_environment_are_space_or_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RMDSL_ALERT_URLS", "json://127.0.0.1:9/a, ntfy://topic  json://h.example/b")
    assert settings().alert_urls == ["json://127.0.0.1:9/a", "ntfy://topic", "json://h.example/b"]


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ('account = "A"\n\nalert_window = -5\n', ":3:16: error[RM902]:", "alert_window: Input"),
        ('account = "A"\n[alerts]\nurls = []\n', ":2:2: error[RM901]:", "unknown key `alerts`"),
        ('account = "A\n', ":1:13: error[RM900]:", "invalid TOML"),
        ('alert_urls = ["nope://x"]\n', ":1:14: error[RM902]:", "apprise cannot send to"),
        ("dashboard_port = 70000 # mine\n", ":1:18: error[RM902]:", "less than or equal"),
    ],
)
def test_errors_are_located_in_the_file_with_a_caret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str, says: str
) -> None:
    cfg_file = write(tmp_path / "rmdsl.toml", text)
    assert main(["run", "--config", str(cfg_file)]) == 2
    err = capsys.readouterr().err
    assert f"{cfg_file}{where}" in err and says in err
    assert "^" in err and "Traceback" not in err and "did not start" in err


def test_a_yaml_config_is_located_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_file = write(tmp_path / "rmdsl.yaml", "account: A\nlog_format: xml\n")
    assert main(["run", "--config", str(cfg_file)]) == 2
    assert f"{cfg_file}:2:13: error[RM902]: log_format:" in capsys.readouterr().err


def test_a_bad_environment_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RMDSL_DASHBOARD_PORT", "http")
    assert main(["run"]) == 2
    assert "RMDSL_DASHBOARD_PORT: error[RM902]: dashboard_port:" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["api_key", "password", "PROJECT_X_API_KEY", "username"])
def test_credentials_in_the_config_file_are_refused_where_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    cfg_file = write(tmp_path / "rmdsl.toml", f'account = "A"\n{key} = "s3cret"\n')
    assert main(["run", "--config", str(cfg_file)]) == 2
    err = capsys.readouterr().err
    assert f"{cfg_file}:2:" in err and "error[RM903]" in err and "credentials_file" in err


def _creds(path: Path, mode: int) -> Path:
    write(path, "# mine\nPROJECT_X_API_KEY=key-from-file\nPROJECT_X_USERNAME='me'\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_credentials_file_others_can_read_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: int
) -> None:
    creds = _creds(tmp_path / "credentials", mode)
    cfg_file = write(tmp_path / "rmdsl.toml", f'account = "A"\ncredentials_file = "{creds}"\n')
    assert main(["run", "--config", str(cfg_file)]) == 2
    err = capsys.readouterr().err
    assert (
        f"error[RM904]: the credentials file can be read or written by others (mode {mode:04o})"
        in err
    )
    assert f"chmod 600 {creds}" in err
    assert not os.environ.get("PROJECT_X_API_KEY")


def test_a_private_credentials_file_fills_what_the_environment_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = _creds(tmp_path / "credentials", 0o600)
    monkeypatch.setenv("PROJECT_X_USERNAME", "from-env")
    settings("--config", str(write(tmp_path / "c.toml", f'credentials_file = "{creds}"\n')))
    assert os.environ["PROJECT_X_API_KEY"] == "key-from-file"
    assert os.environ["PROJECT_X_USERNAME"] == "from-env"  # the environment wins


def test_a_credentials_file_line_that_is_not_a_credential_is_refused_unshown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creds = write(tmp_path / "credentials", "PROJECT_X_API_KEY=k\nmy-secret-key-123\n")
    creds.chmod(0o600)
    cfg_file = write(tmp_path / "c.toml", f'credentials_file = "{creds}"\n')
    assert main(["run", "--config", str(cfg_file)]) == 2
    err = capsys.readouterr().err
    assert f"{creds}:2:1: error[RM904]: line 2 is not one of" in err
    assert "my-secret-key-123" not in err


def test_schema_config_prints_the_models_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--config"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] is False
    assert {"account", "alert_urls", "dashboard_port", "record", "credentials_file"} <= set(
        schema["properties"]
    )


def test_rmdsl_run_rate_limits_alerts_of_one_kind(caplog: pytest.LogCaptureFixture) -> None:
    """The notifier `rmdsl run` builds holds back repeats of one kind for --alert-window s
    (the disk-full flood: 1,059 alerts in 20 s), while another kind still goes out."""
    notifier, phone = run_cmd.build_notifier(settings("--alert-window", "30"))
    assert phone is None
    with caplog.at_level("INFO", logger="rmdsl.alert"):
        for _ in range(50):
            notifier.alert("critical", "state store failure", "disk full", {})
        notifier.alert("critical", "enforcement failed", "close MNQ", {"target": "MNQ"})
    sent = [r.getMessage() for r in caplog.records if r.name == "rmdsl.alert"]
    assert len(sent) == 2 and sent[1].startswith("enforcement failed")


def test_accounts_name_globs_and_tables_each_with_its_ruleset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg_file = write(
        tmp_path / "rmdsl.toml",
        'ruleset = "fleet.yaml"\n\n[[accounts]]\nname = "50KTC-*"\n\n'
        '[[accounts]]\nname = "EXPRESS-1"\nruleset = "~/express.yaml"\n',
    )
    entries = settings("--config", str(cfg_file)).account_entries(Path("default.yaml"))
    assert [(e.pattern, e.ruleset) for e in entries] == [
        ("50KTC-*", Path("fleet.yaml")),
        ("EXPRESS-1", Path("~/express.yaml").expanduser()),
    ]
    assert settings("--account", "ONE").account_entries(Path("d.yaml"))[0].pattern == "ONE"
    monkeypatch.setenv("RMDSL_ACCOUNTS", "PRAC-1, EXP-*")  # the environment: a list in one
    cfg = settings()
    assert [e.pattern for e in cfg.account_entries(Path("d.yaml"))] == ["PRAC-1", "EXP-*"]


def test_account_and_accounts_together_are_refused_where_accounts_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg_file = write(tmp_path / "rmdsl.toml", 'account = "A"\naccounts = ["B", "C*"]\n')
    assert main(["run", "--config", str(cfg_file)]) == 2
    err = capsys.readouterr().err
    assert f"{cfg_file}:2:12: error[RM902]: accounts: give `account` (one) or `accounts`" in err


def test_record_with_many_accounts_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in CREDS:
        monkeypatch.setenv(name, "x" * 20)
    cfg_file = write(tmp_path / "rmdsl.toml", 'accounts = ["A", "B*"]\n')
    assert main(["run", "--config", str(cfg_file), "--record", str(tmp_path / "s.jsonl")]) == 2
    assert "--record records one account" in capsys.readouterr().err
