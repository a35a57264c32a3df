"""Every test: no real ~/.config (rmdsl.toml, the credentials file, systemd units), no
config file named by the environment of whoever runs the tests, and account locks in a
folder of its own (two test runs at once must not refuse each other's daemons)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_real_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    monkeypatch.setenv("RMDSL_LOCK_DIR", str(tmp_path_factory.mktemp("locks")))
    for name in ("RMDSL_CONFIG", "RMDSL_CREDENTIALS_FILE", "RMDSL_ALERT_URLS"):
        monkeypatch.delenv(name, raising=False)
