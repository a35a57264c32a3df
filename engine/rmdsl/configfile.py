"""Reading `rmdsl.toml` (or .yaml) with each key's position, merging the environment and the
flags over it, and reporting a bad value where it was written, as `rmdsl check` does:

    rmdsl.toml:4:16: error[RM902]: alert_window: Input should be greater than or equal to 0
       4 | alert_window = -5
         |                ^~
      help: ...

tomllib keeps no positions, so a small scan of the text finds each top-level key's
line (the model is flat: a `[table]` is an unknown key, located at its header).
A value from the environment is named by its variable, one from a flag by the flag.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rmdsl.config import KEYS, RunConfig, from_environment
from rmdsl.errors import Diagnostic, DiagnosticError
from rmdsl.source import SourceFile, Span

CODES = {
    "RM900": "config file cannot be read or parsed",
    "RM901": "unknown config key",
    "RM902": "invalid config value",
    "RM903": "credentials in the config file",
    "RM904": "credentials file unsafe or unreadable",
}
SECRET_WORDS = ("api_key", "apikey", "password", "passwd", "secret", "token", "username")
CREDENTIALS_HELP = (
    "keep credentials out of the config file: set PROJECT_X_API_KEY and PROJECT_X_USERNAME "
    'in the environment, or name a file only you can read: credentials_file = "~/.config/'
    'rmdsl/credentials" (chmod 600), with PROJECT_X_API_KEY=... and PROJECT_X_USERNAME=... lines'
)

_KEY = re.compile(r'^\s*(?:"([^"]+)"|\'([^\']+)\'|([A-Za-z0-9_-]+))\s*(?:\.|=)')
_TABLE = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_\"'.-]+)")


class ConfigError(DiagnosticError):
    """The config file, the environment or a flag gave a value rmdsl cannot use."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value came from: a file position, or an environment variable / a flag (its name
    stands where a diagnostic's path does: `RMDSL_ALERT_WINDOW: error[RM902]: ...`)."""

    path: str
    span: Span | None = None


def read(path: Path) -> tuple[dict[str, Any], dict[str, Origin], SourceFile]:
    """The file's top-level keys, where each is written, and its text (for carets)."""
    try:
        source = SourceFile.read(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            [Diagnostic("RM900", f"cannot read the config file: {reason}", str(path), None)]
        ) from None
    if path.suffix in (".yaml", ".yml"):
        return _read_yaml(source)
    try:
        data = tomllib.loads(source.text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax(source, str(exc))]) from None
    return data, _toml_positions(source), source


def _syntax(source: SourceFile, message: str) -> Diagnostic:
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    span = Span.point(int(found[1]), int(found[2])) if found else None
    text = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
    return Diagnostic(
        "RM900", f"invalid TOML: {text}", source.path, span, hint="see https://toml.io"
    ).with_source(source)


def _toml_positions(source: SourceFile) -> dict[str, Origin]:
    """Top-level key -> the span of its value (or of a table header), by a scan of the text."""
    out: dict[str, Origin] = {}
    in_table = False
    for number, line in enumerate(source.text.splitlines(), 1):
        table = _TABLE.match(line)
        if table:
            in_table = True
            name = table[1].split(".")[0].strip("\"'")
            start = line.index(table[1]) + 1
            out.setdefault(name, Origin(source.path, Span.point(number, start, len(name))))
            continue
        key = _KEY.match(line)
        if key is None or in_table:
            continue
        name = next(g for g in key.groups() if g)
        out.setdefault(name, Origin(source.path, _value_span(line, number, key.end())))
    return out


def _value_span(line: str, number: int, after_key: int) -> Span:
    """From the first character of the value to the end of the line (a comment cut off)."""
    start = after_key
    while start < len(line) and line[start] in " \t=":
        start += 1
    end = len(line.split(" #", 1)[0].rstrip()) if "#" in line[start:] else len(line.rstrip())
    return Span(number, start + 1, number, max(end + 1, start + 2))


def _read_yaml(source: SourceFile) -> tuple[dict[str, Any], dict[str, Origin], SourceFile]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="rt").load(source.text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        span = Span.point(mark.line + 1, mark.column + 1) if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        diag = Diagnostic("RM900", f"invalid YAML: {problem}", source.path, span)
        raise ConfigError([diag.with_source(source)]) from None
    if data is None:
        return {}, {}, source
    if not isinstance(data, dict):
        raise ConfigError(
            [Diagnostic("RM900", "the config file must be a mapping of keys", source.path, None)]
        )
    out: dict[str, Origin] = {}
    for key in data:
        line, col = data.lc.value(key)  # type: ignore[attr-defined]  # ruamel CommentedMap
        out[str(key)] = Origin(source.path, Span.point(line + 1, col + 1, 1))
    return {str(k): _plain(v) for k, v in data.items()}, out, source


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain lists/dicts for pydantic."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def load(
    path: Path | None, flags: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> RunConfig:
    """The merged, validated settings: flags > environment > file > defaults."""
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    source: SourceFile | None = None
    if path is not None:
        data, positions, source = read(path)
        _refuse_credentials(data, positions, source)
        for key, value in data.items():
            values[key] = value
            origins[key] = positions.get(key, Origin(source.path))
    for key, (value, name) in from_environment(env).items():
        values[key], origins[key] = value, Origin(name)
    for key, value in flags.items():
        if value is not None:
            flag = "--" + key.replace("_", "-")
            values[key], origins[key] = value, Origin(flag)
    try:
        return RunConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_diagnostics(exc, origins, source)) from None


def _refuse_credentials(
    data: Mapping[str, Any], positions: Mapping[str, Origin], source: SourceFile
) -> None:
    found = [k for k in data if k not in KEYS and any(w in k.lower() for w in SECRET_WORDS)]
    if found:
        raise ConfigError(
            [
                Diagnostic(
                    "RM903",
                    f"`{key}`: credentials do not belong in the config file",
                    source.path,
                    positions.get(key, Origin(source.path)).span,
                    hint=CREDENTIALS_HELP,
                ).with_source(source)
                for key in found
            ]
        )


def _diagnostics(
    exc: ValidationError, origins: Mapping[str, Origin], source: SourceFile | None
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        origin = origins.get(key, Origin(source.path if source else "config"))
        unknown = error["type"] == "extra_forbidden"
        message = (
            f"unknown key `{key}`"
            if unknown
            else f"{key}: {error['msg'].removeprefix('Value error, ')}"
        )
        hint = f"the keys are: {', '.join(KEYS)}" if unknown else None
        diag = Diagnostic(
            "RM901" if unknown else "RM902", message, origin.path, origin.span, hint=hint
        )
        out.append(diag.with_source(source) if source and origin.span else diag)
    return out
