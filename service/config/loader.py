"""`load_config`: the TOML file, then the `DRUID_ORCH_*` environment, then overrides, merged
as plain data, secret files read, and the result decoded and checked once."""

from __future__ import annotations

import difflib
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from actors.errors import ConfigError
from service.config.checks import check
from service.config.schema import (
    ENV_KEYS,
    ENV_PREFIX,
    RESERVED_ENV,
    check_keys,
    dotted,
    leaves,
)
from service.config.secret import MASK, Secret, decode_secret, is_secret, read_secret_files
from service.config.sections import Config
from specs.text import NotUTF8Error, read_utf8


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read `path` (optional), apply `DRUID_ORCH_*` variables from `env`, then `overrides`
    (dotted keys, e.g. from command-line flags), resolve secret files and check the result.

    Raises:
        ConfigError: naming the file or variable, the key and (except for secrets) the value.
    """
    source = str(path) if path is not None else "configuration"
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(read_utf8(path))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the configuration file: {exc}") from exc
        except NotUTF8Error as exc:
            raise ConfigError(f"{path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    check_keys(raw, Config, (), source)
    for name, value in sorted((env or {}).items()):
        if name.startswith(ENV_PREFIX) and name not in RESERVED_ENV:
            key, annotation = _env_key(name)
            _put(raw, key, _from_env(name, value, annotation))
    for key_path, value in (overrides or {}).items():
        if value is not None:
            _put(raw, tuple(key_path.split(".")), value)
    check_keys(raw, Config, (), source)
    read_secret_files(raw)
    try:
        config = msgspec.convert(raw, Config, dec_hook=decode_secret)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc, raw)}") from None
    try:
        check(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return config


def _env_key(name: str) -> tuple[tuple[str, ...], Any]:
    found = ENV_KEYS.get(name)
    if found is None:
        close = difflib.get_close_matches(name, list(ENV_KEYS), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"environment variable {name} does not name a configuration key{hint}")
    return found


def _from_env(name: str, text: str, annotation: Any) -> Any:
    """Convert one variable's text to its key's type, naming the variable on failure."""
    shown = MASK if is_secret(annotation) else repr(text)
    args = typing.get_args(annotation)
    if text.strip().lower() in ("", "none", "null") and type(None) in args:
        return None
    origin = typing.get_origin(annotation) or annotation
    try:
        if origin in (list, dict, tuple):
            value: Any = msgspec.json.decode(text)
        else:
            value = text
        converted = msgspec.convert(value, annotation, strict=False, dec_hook=decode_secret)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        message = str(exc).split(" - at ")[0]
        raise ConfigError(f"environment variable {name}={shown}: {message}") from None
    # Put back plain data: the whole tree is converted (and checked) once more afterwards.
    return text if isinstance(converted, Secret) else msgspec.to_builtins(converted)


def _put(raw: dict[str, Any], key: tuple[str, ...], value: Any) -> None:
    node = raw
    for part in key[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"`{dotted(key[:-1])}` must be a table to set `{dotted(key)}`")
        node = child
    node[key[-1]] = value


def _describe(exc: msgspec.ValidationError, raw: dict[str, Any]) -> str:
    """msgspec's message with the dotted key, and the value unless it is a secret."""
    message, _, where = str(exc).rpartition(" - at `")
    if not message:
        return str(exc)
    parts = [p for p in where.rstrip("`").removeprefix("$").split(".") if p]
    key = [p.split("[")[0] for p in parts]
    value: Any = raw
    for part in key:
        value = value.get(part) if isinstance(value, dict) else None
    annotations = dict(leaves())
    secret = is_secret(annotations.get(tuple(key))) or (key and key[-1] in ("password", "token"))
    shown = "" if secret or isinstance(value, dict) else f" (value {value!r})"
    return f"key `{dotted(key)}`: {message}{shown}"
