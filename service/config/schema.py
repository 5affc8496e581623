"""The configuration's schema, walked: every key that holds a value, the environment variable
that names it, and the check that reports an unknown key with its dotted path and the key it
most likely meant (`api.prot`: did you mean `api.port`?).

The check walks the schema itself rather than trusting the structs, since a section may
reuse a struct that ignores unknown fields (`orchestrator` is `OrchestratorConfig`).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from actors.errors import ConfigError
from service.config.sections import Config

ENV_PREFIX = "DRUID_ORCH_"
# Environment variables with this prefix that are not configuration keys.
RESERVED_ENV = frozenset({"DRUID_ORCH_CONFIG", "DRUID_ORCH_API_URL"})


def struct_of(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct class in `annotation` (directly, or in an optional union), if any."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = struct_of(arg)
            if found is not None:
                return found
    return None


def fields_of(struct: type[msgspec.Struct]) -> dict[str, Any]:
    return {f.encode_name: f.type for f in msgspec.structs.fields(struct)}


def leaves(
    struct: type[msgspec.Struct] = Config, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every configuration key that holds a value (not a table), with its type."""
    for name, annotation in fields_of(struct).items():
        inner = struct_of(annotation)
        if inner is not None:
            yield from leaves(inner, (*path, name))
        else:
            yield (*path, name), annotation


def env_name(path: tuple[str, ...]) -> str:
    return ENV_PREFIX + "_".join(part.upper() for part in path)


def _env_index() -> dict[str, tuple[tuple[str, ...], Any]]:
    index: dict[str, tuple[tuple[str, ...], Any]] = {}
    for path, annotation in leaves():
        name = env_name(path)
        if name in index:  # two keys would share a variable: the schema must change
            raise AssertionError(f"{name} names both {index[name][0]} and {path}")
        index[name] = (path, annotation)
    return index


ENV_KEYS = _env_index()


def dotted(path: tuple[str, ...] | list[str]) -> str:
    return ".".join(path)


def check_keys(
    raw: Mapping[str, Any], struct: type[msgspec.Struct], path: tuple[str, ...], source: str
) -> None:
    """Refuse the first key of `raw` that `struct` (or a section inside it) does not have.

    Raises:
        ConfigError: naming `source`, the dotted key, the closest known key and the keys
            known at that level.
    """
    fields = fields_of(struct)
    for key, value in raw.items():
        if key not in fields:
            where = dotted((*path, key))
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean `{dotted((*path, close[0]))}`?" if close else ""
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown key `{where}`{hint} (known here: {known})")
        inner = struct_of(fields[key])
        if inner is not None and isinstance(value, dict):
            check_keys(value, inner, (*path, key), source)
