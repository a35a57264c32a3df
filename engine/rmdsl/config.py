"""`rmdsl.toml`: everything `rmdsl run` takes, in one file, validated by a pydantic model.

Precedence, per key: a command-line flag > the environment > the config file > the
default. The file is `--config FILE`, else `$RMDSL_CONFIG`, else
`$XDG_CONFIG_HOME/rmdsl/rmdsl.toml` (`~/.config/rmdsl/rmdsl.toml`) when it exists.
Errors are located like `rmdsl check`'s (rmdsl.configfile). Credentials never come
from this file: only from the environment or a `credentials_file` that no one
else may read (rmdsl.credentials). docs/operations.md, "The config file".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from rmdsl.accounts import AccountEntry

ENV_CONFIG = "RMDSL_CONFIG"
# each key's environment variable is RMDSL_<KEY>; these also have older names
ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "account": ("RMDSL_ACCOUNT", "PROJECT_X_ACCOUNT_NAME"),
    "state": ("RMDSL_STATE", "RMDSL_STATE_DB"),
}
UNRECONCILED_ALERT_S = 30.0  # rmdsl.reconciler.UNRECONCILED_ALERT_S, without importing it


def config_home() -> Path:
    """`$XDG_CONFIG_HOME`, else `~/.config`: rmdsl's file and the systemd user unit live here
    (tests point it at a temporary directory, never at the real one)."""
    home = os.environ.get("XDG_CONFIG_HOME")
    return Path(home).expanduser() if home else Path.home() / ".config"


def default_config_path() -> Path:
    return config_home() / "rmdsl" / "rmdsl.toml"


def find_config(explicit: str | None) -> Path | None:
    """The config file to read: the flag's, `$RMDSL_CONFIG`'s, or the default one if it exists."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env).expanduser()
    path = default_config_path()
    return path if path.is_file() else None


class AccountItem(BaseModel):
    """One account of `accounts` with its own ruleset (a plain string: the fleet's ruleset)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="account name or fnmatch glob (`50KTC-*`)")
    ruleset: Path | None = Field(None, description="this account's ruleset (default: `ruleset`)")

    @field_validator("ruleset")
    @classmethod
    def _expand(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None


class RunConfig(BaseModel):
    """The settings of `rmdsl run` (every key optional; `rmdsl schema --config` prints this)."""

    model_config = ConfigDict(extra="forbid", title="rmdsl.toml", validate_default=False)

    account: str | None = Field(None, min_length=1, description="TopstepX account name")
    accounts: list[str | AccountItem] = Field(
        default_factory=list,
        description="many accounts under one login: names or globs (`50KTC-V2-*`), or "
        '{ name = "...", ruleset = "..." } with its own ruleset; followed live when the '
        'file changes (docs/operations.md, "Many accounts")',
    )
    ruleset: Path | None = Field(
        None, description="ruleset file (default: the shipped rulesets/topstep.yaml)"
    )
    state: Path | None = Field(None, description="state database (~/.risk_manager/state.db)")
    lock_dir: Path | None = Field(
        None, description="account locks (~/.risk_manager/locks): one daemon per account"
    )
    reload: bool = Field(True, description="watch the ruleset and reload it when it changes")
    credentials_file: Path | None = Field(
        None,
        description="PROJECT_X_API_KEY=... and PROJECT_X_USERNAME=... lines; "
        "must be readable by its owner only (chmod 600)",
    )
    alert_urls: list[str] = Field(
        default_factory=list,
        description="apprise URLs the alerts go to (ntfy://topic, tgram://token/chat, "
        "discord://id/token, mailtos://...); in the environment: space or comma separated",
    )
    alert_window: float = Field(
        60.0, ge=0, description="an alert of one kind at most once per this many seconds"
    )
    alert_retries: int = Field(3, ge=0, le=20, description="retries of a failed delivery")
    alert_timeout: float = Field(10.0, gt=0, le=300, description="seconds per delivery attempt")
    dashboard: bool = Field(True, description="serve the read-only page on 127.0.0.1")
    dashboard_port: int | None = Field(
        None, ge=0, le=65535, description="its port (default 8787; 0: any free port)"
    )
    record: Path | None = Field(None, description="write the session's gateway payloads here")
    log_format: Literal["text", "json"] = "text"
    log_file: Path | None = Field(None, description="also write the log to this file")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    broker_timeout: float = Field(5.0, gt=0, le=60, description="seconds per broker call")
    unreconciled_alert: float = Field(
        UNRECONCILED_ALERT_S, gt=0, description="alert after this many seconds not reconciled"
    )

    @field_validator("alert_urls", "accounts", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """The environment gives one string: `ntfy://a, tgram://b/c` or space separated."""
        if isinstance(value, str):
            return [u for u in value.replace(",", " ").split() if u]
        return value

    @field_validator("alert_urls")
    @classmethod
    def _known(cls, urls: list[str]) -> list[str]:
        if urls:
            from rmdsl.alerting import invalid_urls

            bad = invalid_urls(urls)
            if bad:
                raise ValueError(f"apprise cannot send to `{_shown_url(bad[0])}`")
        return urls

    @field_validator("accounts")
    @classmethod
    def _one_form(cls, accounts: list[str | AccountItem], info: ValidationInfo) -> Any:
        if accounts and info.data.get("account"):
            raise ValueError(
                "give `account` (one) or `accounts` (many), not both: "
                "add the one account to `accounts`"
            )
        names = [a if isinstance(a, str) else a.name for a in accounts]
        if any(not n.strip() for n in names):
            raise ValueError("an account name is empty")
        return accounts

    @field_validator("ruleset", "state", "lock_dir", "credentials_file", "record", "log_file")
    @classmethod
    def _expand(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None

    def account_entries(self, default_ruleset: Path) -> list[AccountEntry]:
        """`accounts` (else the one `account`) with each one's ruleset file."""
        fleet = self.ruleset or default_ruleset
        if not self.accounts:
            return [AccountEntry(self.account, fleet)] if self.account else []
        return [
            AccountEntry(a, fleet)
            if isinstance(a, str)
            else AccountEntry(a.name, a.ruleset or fleet)
            for a in self.accounts
        ]


KEYS = tuple(RunConfig.model_fields)


def env_names(key: str) -> tuple[str, ...]:
    return ENV_ALIASES.get(key, (f"RMDSL_{key.upper()}",))


def from_environment(env: Mapping[str, str] | None = None) -> dict[str, tuple[Any, str]]:
    """key -> (value, the variable it came from), for the keys the environment sets."""
    env = os.environ if env is None else env
    out: dict[str, tuple[Any, str]] = {}
    for key in KEYS:
        for name in env_names(key):
            if env.get(name):
                out[key] = (env[name], name)
                break
    return out


def json_schema() -> dict[str, Any]:
    return RunConfig.model_json_schema()


def _shown_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://..." if rest else url
