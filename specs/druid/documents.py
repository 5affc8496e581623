"""The top-level Druid documents we validate: batch tasks and streaming supervisors.

`Spec` is the tagged union of every top-level document this room validates:

* tasks: `index_parallel`, `index`, `compact` (and `kill`, which appears in task listings);
* supervisors: `kafka` and `kinesis`, in the nested form (`spec: {dataSchema, ioConfig,
  tuningConfig}`) or the legacy flat form (those three at the top level).

The building blocks live in `schema` (dataSchema), `inputs` (input sources and formats),
`tuning` (tuningConfig) and `filters`; `specs.model` is the public face of all of them.
"""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta

from specs.druid.aggregators import Aggregator
from specs.druid.base import UNSET, Opt, SpecBase
from specs.druid.inputs import InputFormat, InputSource
from specs.druid.schema import DataSchema, DimensionsSpec, Granularity, TransformSpec
from specs.druid.tuning import IndexTuningConfig, ParallelTuningConfig, StreamTuningConfig

__all__ = [
    "SUPERVISOR_TYPES",
    "TASK_TYPES",
    "BatchIOConfig",
    "CompactTask",
    "IndexParallelTask",
    "IndexTask",
    "KafkaIOConfig",
    "KafkaSupervisor",
    "KillTask",
    "KinesisIOConfig",
    "KinesisSupervisor",
    "Spec",
    "Supervisor",
]

Positive = Annotated[int, Meta(ge=1)]
NonEmpty = Annotated[str, Meta(min_length=1)]


# --- native batch ------------------------------------------------------------------------------


class BatchIOConfig(SpecBase, frozen=True, kw_only=True):
    """`ioConfig` of `index` and `index_parallel`; `type` must match the task type."""

    type: str
    input_source: InputSource
    input_format: Opt[InputFormat] = UNSET
    append_to_existing: Opt[bool] = UNSET
    drop_existing: Opt[bool] = UNSET


class IndexIngestionSpec(SpecBase, frozen=True, kw_only=True):
    data_schema: DataSchema
    io_config: BatchIOConfig
    tuning_config: Opt[IndexTuningConfig] = UNSET


class ParallelIngestionSpec(SpecBase, frozen=True, kw_only=True):
    data_schema: DataSchema
    io_config: BatchIOConfig
    tuning_config: Opt[ParallelTuningConfig] = UNSET


class TaskResource(SpecBase, frozen=True, kw_only=True):
    availability_group: str
    required_capacity: Opt[Positive] = UNSET


class _Task(SpecBase, frozen=True, kw_only=True, tag_field="type"):
    id: Opt[str] = UNSET
    group_id: Opt[str] = UNSET
    resource: Opt[TaskResource] = UNSET
    context: Opt[dict[str, Any]] = UNSET
    # Druid writes the datasource into stored task payloads and ignores it on submit.
    data_source: Opt[str] = UNSET


class IndexParallelTask(_Task, frozen=True, kw_only=True, tag="index_parallel"):
    spec: ParallelIngestionSpec


class IndexTask(_Task, frozen=True, kw_only=True, tag="index"):
    spec: IndexIngestionSpec


# --- compaction and kill ------------------------------------------------------------------


class IntervalInputSpec(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="interval"):
    interval: str
    sha256_of_sorted_segment_ids: Opt[str] = UNSET


class SegmentsInputSpec(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="segments"):
    segments: list[str]


class CompactionIOConfig(SpecBase, frozen=True, kw_only=True):
    type: str
    input_spec: IntervalInputSpec | SegmentsInputSpec
    drop_existing: Opt[bool] = UNSET
    allow_non_aligned_interval: Opt[bool] = UNSET


class CompactionGranularitySpec(SpecBase, frozen=True, kw_only=True):
    segment_granularity: Opt[Granularity] = UNSET
    query_granularity: Opt[Granularity] = UNSET
    rollup: Opt[bool] = UNSET


class CompactTask(_Task, frozen=True, kw_only=True, tag="compact"):
    data_source: NonEmpty
    io_config: Opt[CompactionIOConfig] = UNSET
    interval: Opt[str] = UNSET  # deprecated: ioConfig.inputSpec replaces it
    segments: Opt[list[dict[str, Any]]] = UNSET  # deprecated
    dimensions_spec: Opt[DimensionsSpec] = UNSET
    transform_spec: Opt[TransformSpec] = UNSET
    metrics_spec: Opt[list[Aggregator]] = UNSET
    segment_granularity: Opt[Granularity] = UNSET  # deprecated: granularitySpec replaces it
    granularity_spec: Opt[CompactionGranularitySpec] = UNSET
    tuning_config: Opt[ParallelTuningConfig] = UNSET
    projections: Opt[list[dict[str, Any]]] = UNSET
    compaction_runner: Opt[dict[str, Any]] = UNSET


class KillTask(_Task, frozen=True, kw_only=True, tag="kill"):
    """Not ingestion; modelled because kill tasks show up next to ours in task listings."""

    data_source: NonEmpty
    interval: str
    versions: Opt[list[str]] = UNSET
    mark_as_unused: Opt[bool] = UNSET
    batch_size: Opt[Positive] = UNSET
    limit: Opt[Positive] = UNSET
    max_used_status_last_updated_time: Opt[str] = UNSET


# --- streaming supervisors -------------------------------------------------------------------


class _StreamIOConfig(SpecBase, frozen=True, kw_only=True):
    type: Opt[str] = UNSET
    input_format: Opt[InputFormat] = UNSET
    task_count: Opt[Positive] = UNSET
    replicas: Opt[Positive] = UNSET
    task_duration: Opt[str] = UNSET
    start_delay: Opt[str] = UNSET
    period: Opt[str] = UNSET
    completion_timeout: Opt[str] = UNSET
    late_message_rejection_period: Opt[str] = UNSET
    early_message_rejection_period: Opt[str] = UNSET
    late_message_rejection_start_date_time: Opt[str] = UNSET
    auto_scaler_config: Opt[dict[str, Any]] = UNSET
    idle_config: Opt[dict[str, Any]] = UNSET
    stop_task_count: Opt[Positive] = UNSET
    lag_aggregator: Opt[dict[str, Any]] = UNSET
    config_overrides: Opt[dict[str, Any]] = UNSET
    server_priority_to_replicas: Opt[dict[str, Any]] = UNSET
    bounded_stream_config: Opt[dict[str, Any]] = UNSET
    # Base-class names Druid writes into every stored supervisor spec, Kafka ones included.
    stream: Opt[str] = UNSET
    use_earliest_sequence_number: Opt[bool] = UNSET


class KafkaIOConfig(_StreamIOConfig, frozen=True, kw_only=True):
    topic: Opt[str] = UNSET
    topic_pattern: Opt[str] = UNSET
    consumer_properties: Opt[dict[str, Any]] = UNSET
    poll_timeout: Opt[int] = UNSET
    use_earliest_offset: Opt[bool] = UNSET
    emit_time_lag_metrics: Opt[bool] = UNSET


class KinesisIOConfig(_StreamIOConfig, frozen=True, kw_only=True):
    endpoint: Opt[str] = UNSET
    region: Opt[str] = UNSET
    records_per_fetch: Opt[int] = UNSET  # deprecated; KinesisSupervisorIOConfig keeps any value
    fetch_delay_millis: Opt[int] = UNSET
    aws_assumed_role_arn: Opt[str] = UNSET
    aws_external_id: Opt[str] = UNSET
    deaggregate: Opt[bool] = UNSET


class KafkaIngestionSpec(SpecBase, frozen=True, kw_only=True):
    data_schema: DataSchema
    io_config: KafkaIOConfig
    tuning_config: Opt[StreamTuningConfig] = UNSET


class KinesisIngestionSpec(SpecBase, frozen=True, kw_only=True):
    data_schema: DataSchema
    io_config: KinesisIOConfig
    tuning_config: Opt[StreamTuningConfig] = UNSET


class _Supervisor(SpecBase, frozen=True, kw_only=True, tag_field="type"):
    id: Opt[str] = UNSET
    context: Opt[dict[str, Any]] = UNSET
    suspended: Opt[bool] = UNSET
    # The legacy flat form: these three at the top level instead of under `spec`.
    data_schema: Opt[DataSchema] = UNSET
    tuning_config: Opt[StreamTuningConfig] = UNSET


class KafkaSupervisor(_Supervisor, frozen=True, kw_only=True, tag="kafka"):
    spec: Opt[KafkaIngestionSpec] = UNSET
    io_config: Opt[KafkaIOConfig] = UNSET


class KinesisSupervisor(_Supervisor, frozen=True, kw_only=True, tag="kinesis"):
    spec: Opt[KinesisIngestionSpec] = UNSET
    io_config: Opt[KinesisIOConfig] = UNSET


Supervisor = KafkaSupervisor | KinesisSupervisor

Spec = IndexParallelTask | IndexTask | CompactTask | KillTask | KafkaSupervisor | KinesisSupervisor
"""Every top-level task or supervisor document this room validates."""

TASK_TYPES = ("index_parallel", "index", "compact", "kill")
SUPERVISOR_TYPES = ("kafka", "kinesis")
