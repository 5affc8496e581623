"""A supervisor spec made ready to apply: validated, in the nested form, with its id and hash.

A stand-in for `specs.supervisors` (same names and signature), which the specs room is adding;
once it lands, import `CompiledSupervisor` and `supervisor_from_spec` from there and delete
this module.

The supervisor id is deterministic: the spec's `id`, else its dataSource, as Druid defaults
it. The id is written into the spec, so what we POST and what the Overlord stores name the
same supervisor whatever Druid's default. The legacy flat form (`dataSchema`, `ioConfig`,
`tuningConfig` at the top level) is moved under `spec`, so one spec has one canonical form
and one hash.
"""

from __future__ import annotations

from typing import Any

import msgspec

from eventlog.events import spec_raw
from specs.druid.documents import KafkaSupervisor, KinesisSupervisor
from specs.druid.validation import encode_spec, validate_spec
from specs.errors import SpecError
from specs.identity import spec_hash

__all__ = ["CompiledSupervisor", "supervisor_from_spec"]

_NESTED = ("dataSchema", "ioConfig", "tuningConfig")


class CompiledSupervisor(msgspec.Struct, frozen=True):
    supervisor_id: str
    datasource: str
    spec_json: msgspec.Raw
    spec_hash: str


def supervisor_from_spec(spec: dict[str, Any]) -> CompiledSupervisor:
    """Validate a Kafka or Kinesis supervisor spec and put it in canonical form.

    Raises:
        SpecError: the spec is invalid, or is not a supervisor spec.
    """
    typed = validate_spec(spec)
    if not isinstance(typed, KafkaSupervisor | KinesisSupervisor):
        kind = type(typed).__struct_config__.tag
        raise SpecError(
            f"expected a kafka or kinesis supervisor spec, got {kind!r}",
            path="$.type",
            rule="supervisor-type",
        )
    canonical = encode_spec(typed)
    nested = canonical.get("spec")
    if not isinstance(nested, dict):
        nested = {key: canonical.pop(key) for key in _NESTED if key in canonical}
        canonical["spec"] = nested
    datasource = nested.get("dataSchema", {}).get("dataSource")
    if not isinstance(datasource, str) or not datasource:
        raise SpecError(
            "a supervisor spec needs spec.dataSchema.dataSource",
            path="$.spec.dataSchema.dataSource",
            rule="supervisor-datasource",
        )
    supervisor_id = canonical.get("id") or datasource
    canonical["id"] = supervisor_id
    return CompiledSupervisor(
        supervisor_id=supervisor_id,
        datasource=datasource,
        spec_json=spec_raw(canonical),
        spec_hash=spec_hash(canonical),
    )
