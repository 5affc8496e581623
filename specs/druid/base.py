"""The base of every Druid spec model, and the passthrough for extension types.

Two choices shape every model in this room:

* **Optional fields default to `UNSET`, not to Druid's default.** A spec must re-encode to the
  JSON it came from: a key the author wrote stays (even when it holds Druid's default, or
  `null`), and a key the author left out is not added. `omit_defaults` alone cannot do both,
  so optional fields are typed `Opt[T]` (present, `null`, or absent) and Druid's defaults live
  in the code that reads them (`value_or`). Required Druid fields have no default at all.
* **Extension types pass through.** Druid's polymorphic objects (aggregators, input sources,
  input formats, filters...) are tagged unions on `"type"`. A `type` we have not modelled is
  wrapped, before decoding, into an `Extension` that keeps the raw object, and unwrapped again
  on encode (see `specs.druid.passthrough`). Known types stay strict, and because the unknown object
  is wrapped rather than decoded by a hook, msgspec keeps the JSON path of every error.
"""

from __future__ import annotations

from typing import Any, TypeVar, Union

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "EXTENSION_TAG",
    "UNSET",
    "Extension",
    "Maybe",
    "Opt",
    "SpecBase",
    "given",
    "tag_of",
    "value_or",
]

T = TypeVar("T")

# `X | None | UnsetType` spelled once. Union[...] (not `|`) because a TypeVar alias is
# subscripted at runtime when msgspec resolves the annotations.
Opt = Union[T, None, UnsetType]  # noqa: UP007
"""A field Druid lets the author omit or set to null; absent means Druid's default."""

Maybe = Union[T, UnsetType]  # noqa: UP007
"""A field the author may omit but, when present, may not be null."""

# A tag no Druid type can have: it marks a wrapped unknown-type object inside a union.
EXTENSION_TAG = "__extension__"


class SpecBase(
    msgspec.Struct,
    rename="camel",
    omit_defaults=True,
    forbid_unknown_fields=True,
    frozen=True,
    kw_only=True,
):
    """Base of every Druid spec object: camelCase keys, strict fields, immutable."""


class Extension(SpecBase, frozen=True, kw_only=True, tag_field="type", tag=EXTENSION_TAG):
    """An object whose `type` belongs to a Druid extension we have not modelled.

    It is kept verbatim, so a spec using, say, a datasketches aggregator round-trips intact.
    """

    raw: dict[str, Any]

    @property
    def type_name(self) -> str:
        """The Druid `type` of the wrapped object."""
        return str(self.raw.get("type", ""))


def given(value: object) -> bool:
    """Whether a field was written with a non-null value."""
    return value is not UNSET and value is not None


def value_or(value: T | UnsetType | None, default: T) -> T:
    """The field's value, or Druid's default when it is absent or null."""
    if value is UNSET or value is None:
        return default
    return value


def tag_of(value: msgspec.Struct) -> str:
    """The `type` tag of a tagged spec object (`index_parallel`, `hashed`, ...)."""
    return str(type(value).__struct_config__.tag)
