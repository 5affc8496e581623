"""Streaming supervisors as the orchestrator holds them: one validated Kafka or Kinesis spec.

    supervisor = supervisor_from_spec(json.loads(text), name="clicks.json")
    supervisor = compile_supervisor(load_template("pipelines/clicks.toml"))

The supervisor id is the spec's `id`, or its `dataSource` when it has none, as Druid defaults
it; the id is always written into `spec_json`, so what is posted names the supervisor it
updates whatever Druid's default. `spec_hash` is `specs.identity.spec_hash` of the spec (the
id left out): two supervisors running the same spec under two ids hash alike, and any change
to what a supervisor reads or writes changes the hash.
"""

from __future__ import annotations

from typing import Any

import msgspec

from specs.druid.base import given
from specs.druid.documents import (
    KafkaIngestionSpec,
    KafkaSupervisor,
    KinesisIngestionSpec,
    KinesisSupervisor,
)
from specs.druid.schema import DataSchema
from specs.druid.validation import encode_spec, validate_spec
from specs.errors import SpecError
from specs.identity import id_problem, spec_hash
from specs.template import PipelineTemplate

__all__ = ["CompiledSupervisor", "compile_supervisor", "supervisor_from_spec"]


class CompiledSupervisor(msgspec.Struct, frozen=True):
    """One streaming supervisor: its id, datasource and validated spec (as JSON)."""

    supervisor_id: str
    datasource: str
    spec_json: msgspec.Raw  # the supervisor spec, `id` included
    spec_hash: str

    @property
    def spec(self) -> dict[str, Any]:
        """The supervisor spec, decoded afresh (changing it changes no supervisor)."""
        return msgspec.json.decode(self.spec_json, type=dict[str, Any])


def supervisor_from_spec(spec: dict[str, Any], *, name: str | None = None) -> CompiledSupervisor:
    """Validate a Kafka or Kinesis supervisor spec (nested or legacy flat form).

    Args:
        spec: the supervisor spec as Druid takes it on `POST /supervisor`.
        name: where it came from (a file name), for error messages.

    Raises:
        SpecError: the spec is invalid, is not a supervisor, or its id is not a valid Druid
            id; the message names `name`, the JSON path and the rule.
    """
    try:
        supervisor = validate_spec(spec)
        if not isinstance(supervisor, KafkaSupervisor | KinesisSupervisor):
            kind = type(supervisor).__struct_config__.tag
            raise SpecError(
                f"expected a kafka or kinesis supervisor spec, got {kind!r}",
                path="$.type",
                rule="supervisor-type",
            )
        encoded = encode_spec(supervisor)
        datasource = _datasource(supervisor)
        supervisor_id = str(supervisor.id) if given(supervisor.id) and supervisor.id else datasource
        problem = id_problem(supervisor_id)
        if problem is not None:
            raise SpecError(
                f"supervisor id {supervisor_id!r} is not valid: {problem}",
                path="$.id",
                rule="task-id",
            )
    except SpecError as exc:
        if name:
            raise exc.with_source(name) from exc
        raise
    encoded["id"] = supervisor_id
    return CompiledSupervisor(
        supervisor_id=supervisor_id,
        datasource=datasource,
        spec_json=msgspec.Raw(msgspec.json.encode(encoded)),
        spec_hash=spec_hash(encoded),
    )


def _datasource(supervisor: KafkaSupervisor | KinesisSupervisor) -> str:
    """The dataSource of the nested form, else of the flat one (the rules ensure one exists)."""
    nested = supervisor.spec
    if isinstance(nested, KafkaIngestionSpec | KinesisIngestionSpec):
        return nested.data_schema.data_source
    schema = supervisor.data_schema
    if not isinstance(schema, DataSchema):  # pragma: no cover - the supervisor-form rule
        raise SpecError("a supervisor needs a dataSchema", path="$.spec", rule="supervisor-form")
    return schema.data_source


def compile_supervisor(template: PipelineTemplate) -> CompiledSupervisor:
    """The supervisor of a template's `[pipeline.stream]` section.

    Raises:
        SpecError: the template has no stream section, a secret cannot be read, or the
            compiled spec is invalid (the path then names the template key).
    """
    raise SpecError(
        "compiling [pipeline.stream] is not implemented yet",
        path="$.pipeline.stream",
        rule="not-implemented",
    )
