"""msgspec models of Druid ingestion specs (first cut: the `index_parallel` core).

Core objects are strict (`forbid_unknown_fields`), so a misspelt key is an error with its JSON
path. Polymorphic objects that extensions can add to (input sources, input formats,
aggregators) are kept as plain mappings here, so a real spec never fails only because we have
not modelled its extension.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from specs.errors import SpecError


class SpecBase(
    msgspec.Struct, rename="camel", omit_defaults=True, forbid_unknown_fields=True, frozen=True
):
    pass


class TimestampSpec(SpecBase, frozen=True):
    column: str = "timestamp"
    format: str = "auto"
    missing_value: str | None = None


class DimensionsSpec(SpecBase, frozen=True):
    dimensions: list[str | dict[str, Any]] = []
    dimension_exclusions: list[str] = []
    spatial_dimensions: list[dict[str, Any]] = []
    include_all_dimensions: bool = False
    use_schema_discovery: bool = False
    force_segment_sort_by_time: bool = True


class GranularitySpec(SpecBase, frozen=True):
    type: Literal["uniform", "arbitrary"] = "uniform"
    segment_granularity: str | dict[str, Any] = "DAY"
    query_granularity: str | dict[str, Any] | None = "NONE"
    rollup: bool = True
    intervals: list[str] = []


class TransformSpec(SpecBase, frozen=True):
    transforms: list[dict[str, Any]] = []
    filter: dict[str, Any] | None = None


class DataSchema(SpecBase, frozen=True):
    data_source: Annotated[str, Meta(min_length=1)]
    timestamp_spec: TimestampSpec | None = None
    dimensions_spec: DimensionsSpec | None = None
    metrics_spec: list[dict[str, Any]] = []
    granularity_spec: GranularitySpec | None = None
    transform_spec: TransformSpec | None = None
    projections: list[dict[str, Any]] | None = None
    parser: dict[str, Any] | None = None


class PartitionsSpecBase(SpecBase, frozen=True, tag_field="type"):
    pass


class DynamicPartitionsSpec(PartitionsSpecBase, frozen=True, tag="dynamic"):
    max_rows_per_segment: int | None = None
    max_total_rows: int | None = None


class HashedPartitionsSpec(PartitionsSpecBase, frozen=True, tag="hashed"):
    num_shards: int | None = None
    target_rows_per_segment: int | None = None
    max_rows_per_segment: int | None = None
    partition_dimensions: list[str] = []
    partition_function: str | None = None


class SingleDimPartitionsSpec(PartitionsSpecBase, frozen=True, tag="single_dim"):
    partition_dimension: str | None = None
    target_rows_per_segment: int | None = None
    max_rows_per_segment: int | None = None
    assume_grouped: bool = False


class RangePartitionsSpec(PartitionsSpecBase, frozen=True, tag="range"):
    partition_dimensions: list[str]
    target_rows_per_segment: int | None = None
    max_rows_per_segment: int | None = None
    assume_grouped: bool = False


PartitionsSpec = (
    DynamicPartitionsSpec | HashedPartitionsSpec | SingleDimPartitionsSpec | RangePartitionsSpec
)


class IndexParallelIOConfig(SpecBase, frozen=True, tag_field="type", tag="index_parallel"):
    input_source: dict[str, Any]
    input_format: dict[str, Any] | None = None
    append_to_existing: bool = False
    drop_existing: bool = False


class IndexParallelTuningConfig(SpecBase, frozen=True, tag_field="type", tag="index_parallel"):
    max_num_concurrent_sub_tasks: Annotated[int, Meta(ge=1)] = 1
    partitions_spec: PartitionsSpec | None = None
    force_guaranteed_rollup: bool = False
    max_rows_in_memory: int | None = None
    max_bytes_in_memory: int | None = None
    max_retry: int | None = None
    max_parse_exceptions: int | None = None
    max_saved_parse_exceptions: int | None = None
    log_parse_exceptions: bool | None = None
    split_hint_spec: dict[str, Any] | None = None
    await_segment_availability_timeout_millis: int | None = None


class IndexParallelIngestionSpec(SpecBase, frozen=True):
    data_schema: DataSchema
    io_config: IndexParallelIOConfig
    tuning_config: IndexParallelTuningConfig | None = None


class IndexParallelTask(SpecBase, frozen=True, tag_field="type", tag="index_parallel"):
    spec: IndexParallelIngestionSpec
    id: str | None = None
    group_id: str | None = None
    resource: dict[str, Any] | None = None
    context: dict[str, Any] = {}


def check_rules(task: IndexParallelTask) -> None:
    """Druid's cross-field rules that would make `POST /task` answer 400."""
    spec = task.spec
    if spec.data_schema.parser is not None:
        raise SpecError(
            "the `parser` field was removed in Druid 37; put timestampSpec and dimensionsSpec "
            "on dataSchema directly",
            path="$.spec.dataSchema.parser",
            rule="parser-removed",
        )
    tuning = spec.tuning_config or IndexParallelTuningConfig()
    partitions = tuning.partitions_spec or DynamicPartitionsSpec()
    dynamic = isinstance(partitions, DynamicPartitionsSpec)
    if not dynamic and not tuning.force_guaranteed_rollup:
        raise SpecError(
            f"partitionsSpec type {type(partitions).__struct_config__.tag!r} needs "
            "forceGuaranteedRollup: true (DynamicPartitionsSpec must be used for best-effort "
            "rollup)",
            path="$.spec.tuningConfig.forceGuaranteedRollup",
            rule="partitions-need-perfect-rollup",
        )
    if dynamic and tuning.force_guaranteed_rollup:
        raise SpecError(
            "a dynamic partitionsSpec cannot be used with forceGuaranteedRollup: true",
            path="$.spec.tuningConfig.partitionsSpec",
            rule="dynamic-needs-best-effort-rollup",
        )
    io = spec.io_config
    granularity = spec.data_schema.granularity_spec
    if (
        io.drop_existing
        and not io.append_to_existing
        and not (granularity and granularity.intervals)
    ):
        raise SpecError(
            "dropExisting: true with appendToExisting: false needs explicit "
            "granularitySpec.intervals",
            path="$.spec.dataSchema.granularitySpec.intervals",
            rule="replace-needs-intervals",
        )


def decode_task(raw: bytes | dict[str, Any]) -> IndexParallelTask:
    """Decode and validate a task spec, or raise SpecError naming the JSON path and rule."""
    try:
        if isinstance(raw, bytes | bytearray | str):
            task = msgspec.json.decode(raw, type=IndexParallelTask)
        else:
            task = msgspec.convert(raw, IndexParallelTask)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).rpartition(" - at `")
        if not message:
            message, path = str(exc), "$`"
        raise SpecError(message, path=path.rstrip("`"), rule="schema") from exc
    except msgspec.DecodeError as exc:
        raise SpecError(f"not valid JSON: {exc}", rule="json") from exc
    check_rules(task)
    return task


def encode_task(task: IndexParallelTask) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(task)
    return result
