"""Extension passthrough: wrap unknown-`type` objects before decoding, unwrap after encoding.

Druid's polymorphic objects are tagged unions here. For a union that admits extensions (it
lists `Extension` among its members), an object whose `type` is not one of the modelled tags
is replaced, before msgspec sees it, by `{"type": EXTENSION_TAG, "raw": <the object>}`.
msgspec then decodes every known object strictly and reports errors with their full JSON path,
which a `dec_hook` could not do (a hook decodes the subtree itself and loses the path).

The walk follows the model's own type information (`msgspec.inspect`), so it needs no list of
JSON paths: a new extensible union is covered as soon as it includes `Extension`.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec.inspect as mi

from specs.druid.base import EXTENSION_TAG, Extension
from specs.errors import SpecError

__all__ = ["unwrap_extensions", "wrap_extensions"]


@functools.cache
def _type_info(model: Any) -> mi.Type:
    return mi.type_info(model)


def wrap_extensions(raw: Any, model: Any) -> Any:
    """A copy of `raw` with every unknown-type object at an extensible position wrapped.

    Args:
        raw: decoded JSON (dicts, lists, scalars).
        model: the msgspec type `raw` will be converted to.

    Raises:
        SpecError: an unknown `type` differs from a known one only in letter case (Druid's
            type names are case-sensitive, so this is a typo, not an extension).
    """
    return _walk(raw, _type_info(model), "$")


def unwrap_extensions(value: Any) -> Any:
    """Replace every wrapped extension object in encoded builtins by the object it holds."""
    if isinstance(value, dict):
        if value.get("type") == EXTENSION_TAG and value.keys() == {"type", "raw"}:
            return value["raw"]
        return {key: unwrap_extensions(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_extensions(item) for item in value]
    return value


def _walk(value: Any, info: mi.Type, path: str) -> Any:
    if isinstance(info, mi.StructType):
        return _walk_struct(value, info, path)
    if isinstance(info, mi.UnionType):
        return _walk_union(value, info, path)
    if isinstance(info, mi.CollectionType):
        if isinstance(value, list):
            return [_walk(item, info.item_type, f"{path}[{i}]") for i, item in enumerate(value)]
        return value
    if isinstance(info, mi.DictType) and isinstance(value, dict):
        return {key: _walk(item, info.value_type, f"{path}.{key}") for key, item in value.items()}
    if isinstance(info, mi.Metadata):
        return _walk(value, info.type, path)
    return value


def _walk_struct(value: Any, info: mi.StructType, path: str) -> Any:
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for field in info.fields:
        if field.encode_name in value:
            out[field.encode_name] = _walk(
                value[field.encode_name], field.type, f"{path}.{field.encode_name}"
            )
    return out


def _walk_union(value: Any, info: mi.UnionType, path: str) -> Any:
    if isinstance(value, list):
        for member in info.types:
            if isinstance(member, mi.CollectionType):
                return _walk(value, member, path)
        return value
    if not isinstance(value, dict):
        return value
    tagged = {
        member.tag: member
        for member in info.types
        if isinstance(member, mi.StructType) and member.tag_field is not None
    }
    if not tagged:
        for member in info.types:
            if isinstance(member, mi.StructType | mi.DictType):
                return _walk(value, member, path)
        return value
    tag = value.get("type")
    known = tagged.get(tag) if isinstance(tag, str) else None
    if known is not None and known.cls is not Extension:
        return _walk_struct(value, known, path)
    if not isinstance(tag, str) or EXTENSION_TAG not in tagged:
        return value  # msgspec reports the missing or invalid tag with its path
    for name in tagged:
        if isinstance(name, str) and name.lower() == tag.lower() and name != EXTENSION_TAG:
            raise SpecError(
                f"type {tag!r} is not a Druid type; type names are case-sensitive, "
                f"did you mean {name!r}?",
                path=f"{path}.type",
                rule="type-name-case",
            )
    return {"type": EXTENSION_TAG, "raw": value}
