"""Secrets of the configuration: held in `Secret`, masked wherever they print, read from the
file a `..._file` key names, and never repeated in an error message."""

from __future__ import annotations

import typing
from typing import Any

from actors.errors import ConfigError
from specs.text import NotUTF8Error, read_utf8

MASK = "***"

# Each secret and the key naming a file that holds it.
SECRET_FILES = {
    ("overlord", "password"): "password_file",
    ("overlord", "token"): "token_file",
    ("api", "token"): "token_file",
    ("alerts", "webhook_token"): "webhook_token_file",
    ("eventlog", "password"): "password_file",
}


class Secret:
    """A credential. Prints as `***`; `reveal()` returns the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def mask_secret(value: Any) -> Any:
    """The `enc_hook` that writes every `Secret` as the mask."""
    if isinstance(value, Secret):
        return MASK
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def decode_secret(type_: type, value: Any) -> Any:
    """The `dec_hook` that reads a string into a `Secret`."""
    if type_ is Secret:
        if not isinstance(value, str):
            raise ValueError("a secret must be a string")
        return Secret(value)
    raise NotImplementedError(f"cannot decode {type_}")


def is_secret(annotation: Any) -> bool:
    return annotation is Secret or Secret in typing.get_args(annotation)


def read_secret_files(raw: dict[str, Any]) -> None:
    """Put each secret a `..._file` key names in `raw`, in place of its file.

    Raises:
        ConfigError: naming the key and the file (never the secret), when both the secret and
            its file are set, or the file cannot be read, is not UTF-8 or is empty.
    """
    for (section, key), file_key in SECRET_FILES.items():
        table = raw.get(section)
        if not isinstance(table, dict) or table.get(file_key) is None:
            continue
        if table.get(key) is not None:
            raise ConfigError(
                f"both `{section}.{key}` and `{section}.{file_key}` are set; keep one"
            )
        file_path = table[file_key]
        if not isinstance(file_path, str):
            raise ConfigError(f"`{section}.{file_key}` must be a path (a string)")
        try:
            secret = read_utf8(file_path).strip()
        except NotUTF8Error as exc:
            raise ConfigError(
                f"`{section}.{file_key}`: the secret file {file_path}: {exc}"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"`{section}.{file_key}`: cannot read the secret file {file_path}: "
                f"{exc.strerror or exc}"
            ) from None
        if not secret:
            raise ConfigError(f"`{section}.{file_key}`: the secret file {file_path} is empty")
        table[key] = secret
