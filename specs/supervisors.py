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
from specs.sections import StreamSection, check_stream, resolve_properties
from specs.template import TEMPLATE_ROOT, PipelineTemplate, data_schema, template_path

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


def compile_supervisor(
    template: PipelineTemplate, *, reveal_secrets: bool = True
) -> CompiledSupervisor:
    """The supervisor of a template's `[pipeline.stream]` section.

    Its dataSchema is the one the template's batch jobs use (`specs.template.data_schema`),
    without the batch intervals.

    Args:
        template: a template with a stream section.
        reveal_secrets: read `{ env }` and `{ file }` consumer properties. With False each
            becomes a marker naming its source, so the spec can be printed; its hash is then
            not the hash of the supervisor that would be posted.

    Raises:
        SpecError: the template has no stream section, a secret cannot be read, or the
            compiled spec is invalid; the path names the template key.
    """
    stream = template.stream
    if stream is None:
        raise SpecError(
            "the template has no [pipeline.stream] section",
            path=f"{TEMPLATE_ROOT}.stream",
            rule="no-stream",
        )
    # A template decoded without `load_template` (an API body) is checked here too.
    check_stream(stream, f"{TEMPLATE_ROOT}.stream")
    # Checked with the secrets masked, so no error message can ever carry a secret's value.
    masked = _supervisor_json(template, stream, reveal=False)
    try:
        checked = supervisor_from_spec(masked)
    except SpecError as exc:
        where = _stream_template_path(exc.path, stream)
        raise SpecError(
            f"{exc.detail} (in the compiled supervisor at {exc.path})", path=where, rule=exc.rule
        ) from exc
    if not reveal_secrets:
        return checked
    return supervisor_from_spec(_supervisor_json(template, stream, reveal=True))


def _supervisor_json(
    template: PipelineTemplate, stream: StreamSection, *, reveal: bool
) -> dict[str, Any]:
    kafka = stream.type == "kafka"
    io: dict[str, Any] = {"type": stream.type}
    if kafka:
        properties = resolve_properties(
            stream.consumer_properties,
            reveal=reveal,
            root=f"{TEMPLATE_ROOT}.stream.consumer_properties",
        )
        io |= {"topic": stream.topic, "topicPattern": stream.topic_pattern}
        io["consumerProperties"] = properties
    else:
        io |= {"stream": stream.stream, "endpoint": stream.endpoint}
    io |= {
        "inputFormat": stream.format if stream.format is not None else template.format,
        "taskCount": stream.task_count,
        "replicas": stream.replicas,
        "taskDuration": stream.task_duration,
        "startDelay": stream.start_delay,
        "useEarliestOffset" if kafka else "useEarliestSequenceNumber": stream.use_earliest_offset,
        "lateMessageRejectionPeriod": stream.late_message_rejection_period,
        "lateMessageRejectionStartDateTime": stream.late_message_rejection_start,
        "earlyMessageRejectionPeriod": stream.early_message_rejection_period,
    }
    return {
        "type": stream.type,
        "id": stream.supervisor_id or template.datasource,
        "spec": {
            "dataSchema": data_schema(template),
            "ioConfig": {key: value for key, value in io.items() if value is not None},
            "tuningConfig": {**stream.tuning, "type": stream.type},
        },
    }


# ioConfig keys of the supervisor spec -> the stream section's keys they come from.
_IO_TO_TEMPLATE = {
    "topicPattern": "topic_pattern",
    "consumerProperties": "consumer_properties",
    "taskCount": "task_count",
    "taskDuration": "task_duration",
    "startDelay": "start_delay",
    "useEarliestOffset": "use_earliest_offset",
    "useEarliestSequenceNumber": "use_earliest_offset",
    "lateMessageRejectionPeriod": "late_message_rejection_period",
    "lateMessageRejectionStartDateTime": "late_message_rejection_start",
    "earlyMessageRejectionPeriod": "early_message_rejection_period",
}


def _stream_template_path(spec_path: str, stream: StreamSection) -> str:
    """The template key a path in the compiled supervisor spec comes from."""
    root = f"{TEMPLATE_ROOT}.stream"
    for prefix, key in (
        ("$.spec.ioConfig.inputFormat", "stream.format" if stream.format else "format"),
        ("$.spec.tuningConfig", "stream.tuning"),
    ):
        if spec_path == prefix or spec_path.startswith((prefix + ".", prefix + "[")):
            return f"{TEMPLATE_ROOT}.{key}{spec_path[len(prefix) :]}"
    if spec_path.startswith("$.spec.dataSchema"):
        return template_path(spec_path)
    if spec_path.startswith("$.spec.ioConfig."):
        name = spec_path.removeprefix("$.spec.ioConfig.").split(".")[0].split("[")[0]
        return f"{root}.{_IO_TO_TEMPLATE.get(name, name)}"
    if spec_path == "$.id":
        return f"{root}.supervisor_id"
    return root
