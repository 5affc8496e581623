"""The optional sections of a pipeline template: `[pipeline.stream]` and `[pipeline.compaction]`.

    [pipeline.stream]                  # one Kafka or Kinesis supervisor for the datasource
    type = "kafka"                     # kafka | kinesis
    topic = "clicks"                   # or topic_pattern; Kinesis: stream (+ endpoint)
    consumer_properties = { "bootstrap.servers" = "kafka:9092" }
    task_count = 2
    late_message_rejection_period = "PT6H"

    [pipeline.compaction]              # `compact` tasks over what was ingested
    max_rows_per_segment = 5000000     # or target_rows_per_segment (+ partition_dimensions)
    skip_offset_from_latest = "P1D"

Secrets. A consumer property written `{ env = "NAME" }` or `{ file = "/path" }` is read when the
supervisor is compiled (a file's trailing newline dropped); the value then sits in the spec
posted to Druid and in whatever records that spec. To keep a secret out of the spec
altogether, use Druid's own `druid.dynamic.config.provider` consumer property (for instance
`{ type = "environment", variables = { "sasl.jaas.config" = "KAFKA_JAAS" } }`): Druid resolves
it on its own processes, and it is passed through untouched, like every other object with a
`type` (Druid's password providers).

This module holds the sections' models and the checks that need no compilation; the
supervisor is compiled in `specs.supervisors`, the `compact` tasks in `specs.compaction`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from specs.errors import SpecError
from specs.identity import id_problem
from specs.intervals import GRANULARITIES, Period, parse_instant

__all__ = [
    "COMPACTION_TUNING_SET_ELSEWHERE",
    "DYNAMIC_CONFIG_PROVIDER",
    "CompactionSection",
    "StreamSection",
    "check_compaction",
    "check_stream",
    "resolve_properties",
]

DYNAMIC_CONFIG_PROVIDER = "druid.dynamic.config.provider"

NonEmpty = Annotated[str, Meta(min_length=1)]
Count = Annotated[int, Meta(ge=1)]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class StreamSection(_Section, frozen=True, kw_only=True):
    """`[pipeline.stream]`: the supervisor that streams into the template's datasource."""

    type: Literal["kafka", "kinesis"]
    topic: NonEmpty | None = None
    topic_pattern: NonEmpty | None = None
    stream: NonEmpty | None = None
    endpoint: NonEmpty | None = None
    consumer_properties: dict[str, Any] = {}
    task_count: Count | None = None
    replicas: Count | None = None
    task_duration: NonEmpty | None = None
    start_delay: NonEmpty | None = None
    use_earliest_offset: bool | None = None
    late_message_rejection_period: NonEmpty | None = None
    late_message_rejection_start: NonEmpty | None = None
    early_message_rejection_period: NonEmpty | None = None
    format: dict[str, Any] | None = None  # default: the template's [pipeline.format]
    tuning: dict[str, Any] = {}
    supervisor_id: NonEmpty | None = None  # default: the datasource, as Druid defaults it


class CompactionSection(_Section, frozen=True, kw_only=True):
    """`[pipeline.compaction]`: how `compact` tasks rewrite the datasource's segments."""

    target_rows_per_segment: Count | None = None
    max_rows_per_segment: Count | None = None
    max_total_rows: Count | None = None
    partition_dimensions: list[NonEmpty] = []
    skip_offset_from_latest: NonEmpty | None = None
    chunk: NonEmpty | None = None  # default: the template's chunk
    max_sub_tasks: Annotated[int, Meta(ge=1, le=1000)] | None = None
    tuning: dict[str, Any] = {}
    context: dict[str, Any] = {}


SECTION_TYPES: tuple[type[msgspec.Struct], ...] = (StreamSection, CompactionSection)

_STREAM_TUNING_SET_ELSEWHERE = {"type": "it is always the stream's type"}
COMPACTION_TUNING_SET_ELSEWHERE = {
    "type": "it is always index_parallel",
    "partitionsSpec": "use target_rows_per_segment, max_rows_per_segment or max_total_rows",
    "forceGuaranteedRollup": "it follows the partitioning (true with target_rows_per_segment)",
    "maxNumConcurrentSubTasks": "use max_sub_tasks",
    "maxNumSubTasks": "use max_sub_tasks",
}
# `use_earliest_offset` serves both: Kinesis calls it useEarliestSequenceNumber.
_KAFKA_ONLY = ("topic", "topic_pattern", "consumer_properties")
_KINESIS_ONLY = ("stream", "endpoint")


def check_stream(stream: StreamSection, root: str = "$.stream") -> None:
    """Check a stream section (secrets are not read here: see `resolve_properties`).

    Raises:
        SpecError: with a path under `root` and the rule broken.
    """
    other = _KINESIS_ONLY if stream.type == "kafka" else _KAFKA_ONLY
    for key in other:
        if getattr(stream, key) not in (None, {}):
            raise SpecError(
                f"{key} is not a {stream.type} setting; a Kafka stream reads a topic, a "
                "Kinesis stream a stream",
                path=f"{root}.{key}",
                rule="stream-key",
            )
    if stream.type == "kafka":
        if (stream.topic is None) == (stream.topic_pattern is None):
            raise SpecError(
                "a Kafka stream needs exactly one of topic and topic_pattern",
                path=f"{root}.topic",
                rule="kafka-topic",
            )
        if "bootstrap.servers" not in stream.consumer_properties:
            raise SpecError(
                "consumer_properties need bootstrap.servers (the Kafka brokers to read from)",
                path=f"{root}.consumer_properties",
                rule="kafka-bootstrap-servers",
            )
    elif stream.stream is None:
        raise SpecError(
            "a Kinesis stream needs stream (the Kinesis stream name)",
            path=f"{root}.stream",
            rule="kinesis-needs-stream",
        )
    for key in (
        "task_duration",
        "start_delay",
        "late_message_rejection_period",
        "early_message_rejection_period",
    ):
        _check_period(getattr(stream, key), f"{root}.{key}")
    if stream.late_message_rejection_start is not None:
        if stream.late_message_rejection_period is not None:
            raise SpecError(
                "late_message_rejection_period and late_message_rejection_start cannot both be set",
                path=f"{root}.late_message_rejection_start",
                rule="late-rejection-exclusive",
            )
        try:
            parse_instant(stream.late_message_rejection_start)
        except SpecError as exc:
            raise SpecError(
                exc.detail, path=f"{root}.late_message_rejection_start", rule="instant"
            ) from exc
    for name, value in stream.consumer_properties.items():
        _check_property(name, value, f"{root}.consumer_properties")
    _check_tuning(stream.tuning, _STREAM_TUNING_SET_ELSEWHERE, f"{root}.tuning")
    if stream.supervisor_id is not None:
        problem = id_problem(stream.supervisor_id)
        if problem is not None:
            raise SpecError(
                f"supervisor_id {stream.supervisor_id!r} is not a valid Druid id: {problem}",
                path=f"{root}.supervisor_id",
                rule="task-id",
            )


def check_compaction(compaction: CompactionSection, root: str = "$.compaction") -> None:
    """Check a compaction section.

    Raises:
        SpecError: with a path under `root` and the rule broken.
    """
    if compaction.target_rows_per_segment is not None:
        for key in ("max_rows_per_segment", "max_total_rows"):
            if getattr(compaction, key) is not None:
                raise SpecError(
                    f"target_rows_per_segment (hashed or range partitioning) and {key} "
                    "(dynamic partitioning) cannot both be set",
                    path=f"{root}.{key}",
                    rule="compaction-partitions",
                )
    elif compaction.partition_dimensions:
        raise SpecError(
            "partition_dimensions need target_rows_per_segment (range partitioning)",
            path=f"{root}.partition_dimensions",
            rule="compaction-partitions",
        )
    _check_period(compaction.skip_offset_from_latest, f"{root}.skip_offset_from_latest")
    if compaction.chunk is not None:
        check_chunk(compaction.chunk, f"{root}.chunk")
    _check_tuning(compaction.tuning, COMPACTION_TUNING_SET_ELSEWHERE, f"{root}.tuning")


def check_chunk(chunk: str, path: str) -> None:
    """A chunk is a granularity name or an ISO-8601 period.

    Raises:
        SpecError: rule `chunk`.
    """
    if chunk.upper() in GRANULARITIES:
        return
    try:
        Period.parse(chunk)
    except SpecError as exc:
        raise SpecError(
            f"chunk {chunk!r} is neither a granularity (DAY, HOUR...) nor an ISO-8601 period "
            "(P1D, PT6H...)",
            path=path,
            rule="chunk",
        ) from exc


def _check_period(value: str | None, path: str) -> None:
    if value is None:
        return
    try:
        Period.parse(value)
    except SpecError as exc:
        raise SpecError(exc.detail, path=path, rule="period") from exc


def _check_tuning(tuning: dict[str, Any], refused: dict[str, str], path: str) -> None:
    for key in tuning:
        if key in refused:
            raise SpecError(
                f"tuning.{key} is set by the compiler; {refused[key]}",
                path=f"{path}.{key}",
                rule="template-tuning-key",
            )


def _property_path(root: str, name: str) -> str:
    return f'{root}["{name}"]'


def _check_property(name: str, value: Any, root: str) -> None:
    if not isinstance(value, dict) or "type" in value:
        return  # a plain value, or a Druid provider object (passed through untouched)
    source = next(iter(value), None)
    where = value.get(source) if len(value) == 1 and source in ("env", "file") else None
    if isinstance(where, str) and where:
        return
    raise SpecError(
        f'consumer property {name!r} must be a plain value, {{ env = "NAME" }}, '
        '{ file = "/path" }, or a Druid provider object with a type',
        path=_property_path(root, name),
        rule="consumer-property",
    )


def resolve_properties(
    properties: dict[str, Any], *, reveal: bool, root: str = "$.pipeline.stream.consumer_properties"
) -> dict[str, Any]:
    """The consumer properties with every `{ env }` and `{ file }` replaced by its value.

    With `reveal=False` nothing is read and each secret becomes a marker naming its source
    (`<secret from env KAFKA_PASSWORD>`), for printing and for checks.

    Raises:
        SpecError: a variable is unset or empty, or a file is unreadable or empty (rules
            `secret-missing`, `secret-unreadable`, `secret-empty`). The message names the
            property and where its value was to come from, never the value.
    """
    resolved: dict[str, Any] = {}
    for name, value in properties.items():
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("env", "file"):
            [(source, where)] = value.items()
            resolved[name] = (
                _read_secret(name, source, str(where), _property_path(root, name))
                if reveal
                else f"<secret from {source} {where}>"
            )
        else:
            resolved[name] = value
    return resolved


def _read_secret(name: str, source: str, where: str, path: str) -> str:
    if source == "env":
        value = os.environ.get(where)
        if value is None:
            raise SpecError(
                f"consumer property {name!r} comes from environment variable {where!r}, "
                "which is not set",
                path=path,
                rule="secret-missing",
            )
    else:
        try:
            value = Path(where).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else None
            raise SpecError(
                f"consumer property {name!r} comes from file {where!r}, which cannot be read: "
                f"{reason or getattr(exc, 'strerror', None) or type(exc).__name__}",
                path=path,
                rule="secret-unreadable",
            ) from None  # a UnicodeDecodeError holds the file's bytes: keep them out of tracebacks
        value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        raise SpecError(
            f"consumer property {name!r} comes from {source} {where!r}, which is empty",
            path=path,
            rule="secret-empty",
        )
    return value
