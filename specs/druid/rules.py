"""Druid's cross-field rules: what a well-typed spec can still get wrong.

Each rule has a stable name (the `rule` of the `SpecError` it raises) and reports the JSON
path of the field to change. Most are rules Druid enforces while deserializing a submitted
spec (so `POST /task` answers 400); a few (index/sequential partitioning) let Druid accept the
task and fail it later, after it has waited for locks and a slot, which is worse. Two are
ours and stricter than Druid, because Druid silently ignores what they catch: a top-level
`dataSource` that disagrees with the dataSchema, and a supervisor whose nested and flat forms
disagree. Unknown fields are refused for the same reason (see `specs.druid.validation`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import msgspec
from msgspec import UnsetType

from specs.druid.aggregators import aggregator_name
from specs.druid.base import Extension, given, tag_of, value_or
from specs.druid.documents import (
    CompactionGranularitySpec,
    CompactionIOConfig,
    CompactTask,
    IndexParallelTask,
    IndexTask,
    IntervalInputSpec,
    KafkaIngestionSpec,
    KafkaIOConfig,
    KafkaSupervisor,
    KillTask,
    KinesisIngestionSpec,
    KinesisIOConfig,
    KinesisSupervisor,
    Spec,
)
from specs.druid.inputs import CombiningInputSource, DruidInputSource, InputSource
from specs.druid.partitioning import PARTITION_RULES, partition_errors
from specs.druid.preconditions import (
    PRECONDITION_RULES,
    aggregator_errors,
    input_format_errors,
    input_source_errors,
    transform_errors,
)
from specs.druid.schema import (
    AutoDimension,
    DataSchema,
    DimensionsSpec,
    Granularity,
    GranularitySpec,
    LongDimension,
    TransformSpec,
    dimension_name,
)
from specs.druid.streaming import STREAM_RULES, stream_errors
from specs.druid.tuning import (
    IndexTuningConfig,
    ParallelTuningConfig,
    RangePartitionsSpec,
    SingleDimPartitionsSpec,
    StreamTuningConfig,
)
from specs.errors import IntervalError, SpecError
from specs.identity import id_problem
from specs.intervals import GRANULARITIES, Interval

__all__ = ["RULES", "check_rules"]

RULES = {
    "parser-removed": "dataSchema.parser was removed in Druid 37",
    "partitions-need-perfect-rollup": "hashed/single_dim/range need forceGuaranteedRollup: true",
    "dynamic-needs-best-effort-rollup": "dynamic partitioning needs forceGuaranteedRollup: false",
    "index-partitions": "task type index supports only dynamic and hashed partitioning",
    "range-not-sequential": "single_dim/range need maxNumConcurrentSubTasks >= 2",
    "range-needs-dimensions": "single_dim/range need their partition dimension(s)",
    "range-row-target": "single_dim/range need exactly one of targetRowsPerSegment, maxRows...",
    "hashed-shards-or-rows": "hashed takes numShards or a row target, not both",
    "sub-task-knobs-exclusive": "maxNumSubTasks and maxNumConcurrentSubTasks are exclusive",
    "append-needs-dynamic": "appendToExisting: true needs dynamic partitioning",
    "replace-needs-intervals": "dropExisting: true needs granularitySpec.intervals",
    "inner-type-matches-task": "ioConfig/tuningConfig type must match the task type",
    "task-datasource-matches": "a top-level dataSource must equal dataSchema.dataSource",
    "duplicate-column": "a column may appear once across dimensions and metrics",
    "granularity-name": "granularity names must be Druid's",
    "interval-syntax": "intervals must be explicit ISO-8601 start/end (or period)",
    "task-id": "ids must follow Druid's id rules",
    "compact-needs-input": "compact needs ioConfig (or the deprecated interval/segments)",
    "supervisor-form": "a supervisor needs spec, or the flat dataSchema and ioConfig",
    "supervisor-forms-agree": "nested spec and flat form must agree when both are given",
    "datasource-name": "dataSource must follow Druid's id rules",
    "dimension-excluded": "a dimension may not also be in dimensionExclusions",
    "time-column-reserved": "__time is only a long dimension (first unless sorting allows)",
    **PARTITION_RULES,
    **PRECONDITION_RULES,
    **STREAM_RULES,
}
"""Every rule name the specs room can report, with a one-line summary of it."""

_GRANULARITY_NAMES = frozenset((*GRANULARITIES, "NONE", "ALL"))
_PARALLEL_ONLY = (RangePartitionsSpec, SingleDimPartitionsSpec)
_COMPACT_TUNING = ("index_parallel", "index", "compaction")
TIME_COLUMN = "__time"
# Where a duplicated column is reported, by the first list it appears in.
_PLACE_PATHS = {
    "metricsSpec": "metricsSpec",
    "spatialDimensions": "dimensionsSpec.spatialDimensions",
}


def check_rules(spec: Spec) -> list[SpecError]:
    """Every cross-field rule `spec` breaks, in document order (empty when it is valid)."""
    return list(_rules(spec))


def _rules(spec: Spec) -> Iterator[SpecError]:
    if given(spec.id):
        yield from _id("$.id", str(spec.id))
    match spec:
        case IndexParallelTask() | IndexTask():
            yield from _batch(spec)
        case CompactTask():
            yield from _compact(spec)
        case KillTask():
            yield from _interval("$.interval", spec.interval)
        case KafkaSupervisor() | KinesisSupervisor():
            yield from _supervisor(spec)


def _id(path: str, value: str) -> Iterator[SpecError]:
    problem = id_problem(value)
    if problem is not None:
        yield SpecError(f"id {value!r} is not valid: {problem}", path=path, rule="task-id")


def _interval(path: str, text: str) -> Iterator[SpecError]:
    try:
        Interval.parse(text)
    except IntervalError as exc:
        yield SpecError(exc.detail, path=path, rule="interval-syntax")


def _type_mismatch(path: str, actual: object, expected: str) -> SpecError:
    return SpecError(
        f"type is {actual!r} but the task type is {expected!r}; they must match",
        path=path,
        rule="inner-type-matches-task",
    )


def _batch(task: IndexParallelTask | IndexTask) -> Iterator[SpecError]:
    kind = tag_of(task)
    schema, io, tuning = task.spec.data_schema, task.spec.io_config, task.spec.tuning_config
    yield from _data_schema(schema, "$.spec.dataSchema")
    if isinstance(task.data_source, str) and task.data_source != schema.data_source:
        yield SpecError(
            f"top-level dataSource {task.data_source!r} differs from dataSchema.dataSource "
            f"{schema.data_source!r}; Druid ignores the top-level one",
            path="$.dataSource",
            rule="task-datasource-matches",
        )
    if io.type != kind:
        yield _type_mismatch("$.spec.ioConfig.type", io.type, kind)
    if (
        isinstance(tuning, IndexTuningConfig)
        and isinstance(tuning.type, str)
        and tuning.type != kind
    ):
        yield _type_mismatch("$.spec.tuningConfig.type", tuning.type, kind)
    appending = value_or(io.append_to_existing, False)
    if value_or(io.drop_existing, False) and not appending and not _intervals(schema):
        yield SpecError(
            "dropExisting: true with appendToExisting: false (replace mode) needs explicit "
            "granularitySpec.intervals; Druid would refuse it",
            path="$.spec.dataSchema.granularitySpec.intervals",
            rule="replace-needs-intervals",
        )
    yield from input_source_errors(io.input_source, "$.spec.ioConfig.inputSource")
    yield from _input_intervals(io.input_source, "$.spec.ioConfig.inputSource")
    if io.input_format is not None and not isinstance(io.input_format, UnsetType):
        yield from input_format_errors(io.input_format, "$.spec.ioConfig.inputFormat")
    if isinstance(tuning, IndexTuningConfig):
        yield from partition_errors(tuning, "$.spec.tuningConfig", kind, appending=appending)


def _intervals(schema: DataSchema) -> list[str]:
    granularity = schema.granularity_spec
    if not isinstance(granularity, GranularitySpec):
        return []
    return list(value_or(granularity.intervals, []))


def _input_intervals(source: InputSource, path: str) -> Iterator[SpecError]:
    if isinstance(source, DruidInputSource) and isinstance(source.interval, str):
        yield from _interval(f"{path}.interval", source.interval)
    elif isinstance(source, CombiningInputSource):
        for index, delegate in enumerate(source.delegates):
            yield from _input_intervals(delegate, f"{path}.delegates[{index}]")


def _data_schema(schema: DataSchema, prefix: str) -> Iterator[SpecError]:
    # DataSchema validates its name with IdUtils.validateId, the rule task ids follow.
    problem = id_problem(schema.data_source)
    if problem is not None:
        yield SpecError(
            f"dataSource {schema.data_source!r} is not valid: {problem}",
            path=f"{prefix}.dataSource",
            rule="datasource-name",
        )
    if given(schema.parser):
        yield SpecError(
            "the parser field was removed in Druid 37 (it answers 400); describe the input "
            "with ioConfig.inputFormat and put timestampSpec and dimensionsSpec on dataSchema",
            path=f"{prefix}.parser",
            rule="parser-removed",
        )
    granularity = schema.granularity_spec
    if isinstance(granularity, GranularitySpec):
        path = f"{prefix}.granularitySpec"
        yield from _granularity(f"{path}.segmentGranularity", granularity.segment_granularity)
        yield from _granularity(f"{path}.queryGranularity", granularity.query_granularity)
        for index, text in enumerate(value_or(granularity.intervals, [])):
            yield from _interval(f"{path}.intervals[{index}]", text)
    yield from _duplicate_columns(schema, prefix)
    yield from _time_column(schema, prefix)
    if isinstance(schema.dimensions_spec, DimensionsSpec):
        yield from _excluded(schema.dimensions_spec, f"{prefix}.dimensionsSpec")
    if isinstance(schema.metrics_spec, list):
        yield from aggregator_errors(schema.metrics_spec, f"{prefix}.metricsSpec")
    if isinstance(schema.transform_spec, TransformSpec):
        yield from transform_errors(schema.transform_spec, f"{prefix}.transformSpec")


def _granularity(path: str, value: Granularity | UnsetType | None) -> Iterator[SpecError]:
    if isinstance(value, str) and value.upper() not in _GRANULARITY_NAMES:
        yield SpecError(
            f"{value!r} is not a Druid granularity; use one of "
            f"{', '.join(sorted(_GRANULARITY_NAMES))} or a granularity object",
            path=path,
            rule="granularity-name",
        )


def _duplicate_columns(schema: DataSchema, prefix: str) -> Iterator[SpecError]:
    places: dict[str, list[str]] = {}
    dimensions = schema.dimensions_spec
    if isinstance(dimensions, DimensionsSpec):
        for dimension in value_or(dimensions.dimensions, []):
            name = dimension_name(dimension)
            if name is not None and name != TIME_COLUMN:
                places.setdefault(name, []).append("dimensions")
        # DimensionsSpec appends the deprecated spatialDimensions to the dimensions and
        # refuses a name that is in both lists.
        for spatial in value_or(dimensions.spatial_dimensions, []):
            places.setdefault(spatial.dim_name, []).append("spatialDimensions")
    for aggregator in value_or(schema.metrics_spec, []):
        name = aggregator_name(aggregator)
        if name is not None and name != TIME_COLUMN:
            places.setdefault(name, []).append("metricsSpec")
    for name, seen in places.items():
        if len(seen) < 2:
            continue
        counts = Counter(seen)
        listed = ", ".join(f"{place} ({counts[place]}x)" for place in sorted(counts))
        where = next(
            (path for place, path in _PLACE_PATHS.items() if place in counts),
            "dimensionsSpec.dimensions",
        )
        yield SpecError(
            f"column {name!r} is written more than once: {listed}",
            path=f"{prefix}.{where}",
            rule="duplicate-column",
        )


def _time_column(schema: DataSchema, prefix: str) -> Iterator[SpecError]:
    # DataSchema.computeAndValidateOutputFieldNames: __time is the primary timestamp; it may
    # appear once more, as a long dimension, and first unless forceSegmentSortByTime is false.
    dimensions = schema.dimensions_spec
    if isinstance(dimensions, DimensionsSpec):
        sorted_by_time = dimensions.force_segment_sort_by_time is not False
        seen = False
        for index, dimension in enumerate(value_or(dimensions.dimensions, [])):
            if dimension_name(dimension) != TIME_COLUMN or isinstance(dimension, Extension):
                continue
            if seen:
                problem = "it appears twice"
            elif not _is_long(dimension):
                problem = "as a dimension it must have type 'long'"
            elif index > 0 and sorted_by_time:
                problem = "it must be the first dimension unless forceSegmentSortByTime is false"
            else:
                problem = ""
            seen = True
            if problem:
                yield SpecError(
                    f"{TIME_COLUMN} is the primary timestamp: {problem}",
                    path=f"{prefix}.dimensionsSpec.dimensions[{index}]",
                    rule="time-column-reserved",
                )
    for index, aggregator in enumerate(value_or(schema.metrics_spec, [])):
        if aggregator_name(aggregator) == TIME_COLUMN:
            yield SpecError(
                f"{TIME_COLUMN} is the primary timestamp; a metric cannot take its name",
                path=f"{prefix}.metricsSpec[{index}].name",
                rule="time-column-reserved",
            )


def _is_long(dimension: object) -> bool:
    # An auto column cast to LONG reports the long type, as a long dimension does.
    if isinstance(dimension, AutoDimension):
        return isinstance(dimension.cast_to_type, str) and dimension.cast_to_type.upper() == "LONG"
    return isinstance(dimension, LongDimension)


def _excluded(dimensions: DimensionsSpec, path: str) -> Iterator[SpecError]:
    # DimensionsSpec.verify: "dimensions and dimensions exclusions cannot overlap".
    names = {dimension_name(d) for d in value_or(dimensions.dimensions, [])}
    for index, name in enumerate(value_or(dimensions.dimension_exclusions, [])):
        if name in names:
            yield SpecError(
                f"{name!r} is both a dimension and in dimensionExclusions",
                path=f"{path}.dimensionExclusions[{index}]",
                rule="dimension-excluded",
            )


def _compact(task: CompactTask) -> Iterator[SpecError]:
    io = task.io_config
    if not (given(io) or given(task.interval) or given(task.segments)):
        yield SpecError(
            "a compact task needs ioConfig with an inputSpec (or the deprecated interval)",
            path="$.ioConfig",
            rule="compact-needs-input",
        )
    if isinstance(io, CompactionIOConfig):
        if io.type != "compact":
            yield _type_mismatch("$.ioConfig.type", io.type, "compact")
        if isinstance(io.input_spec, IntervalInputSpec):
            yield from _interval("$.ioConfig.inputSpec.interval", io.input_spec.interval)
    if isinstance(task.interval, str):
        yield from _interval("$.interval", task.interval)
    yield from _granularity("$.segmentGranularity", task.segment_granularity)
    granularity = task.granularity_spec
    if isinstance(granularity, CompactionGranularitySpec):
        path = "$.granularitySpec"
        yield from _granularity(f"{path}.segmentGranularity", granularity.segment_granularity)
        yield from _granularity(f"{path}.queryGranularity", granularity.query_granularity)
    tuning = task.tuning_config
    if isinstance(tuning, ParallelTuningConfig):
        if isinstance(tuning.type, str) and tuning.type not in _COMPACT_TUNING:
            yield SpecError(
                f"type is {tuning.type!r}; a compact task's tuningConfig takes one of "
                f"{', '.join(_COMPACT_TUNING)}",
                path="$.tuningConfig.type",
                rule="inner-type-matches-task",
            )
        yield from partition_errors(tuning, "$.tuningConfig", "compact", appending=False)


def _supervisor(sup: KafkaSupervisor | KinesisSupervisor) -> Iterator[SpecError]:
    kind = tag_of(sup)
    nested = sup.spec
    flat = {
        "dataSchema": sup.data_schema,
        "ioConfig": sup.io_config,
        "tuningConfig": sup.tuning_config,
    }
    if isinstance(nested, KafkaIngestionSpec | KinesisIngestionSpec):
        prefix, schema, io = "$.spec", nested.data_schema, nested.io_config
        tuning = nested.tuning_config
        inner = {"dataSchema": schema, "ioConfig": io, "tuningConfig": tuning}
        for key, value in flat.items():
            if given(value) and msgspec.to_builtins(value) != msgspec.to_builtins(inner[key]):
                yield SpecError(
                    f"both spec.{key} and a top-level {key} are given and they differ; Druid "
                    f"uses spec.{key} and ignores the other, so remove one",
                    path=f"$.{key}",
                    rule="supervisor-forms-agree",
                )
    elif isinstance(sup.data_schema, DataSchema) and isinstance(
        sup.io_config, KafkaIOConfig | KinesisIOConfig
    ):
        prefix, schema, io, tuning = "$", sup.data_schema, sup.io_config, sup.tuning_config
    else:
        yield SpecError(
            "a supervisor needs spec: {dataSchema, ioConfig, tuningConfig}, or the legacy flat "
            "form with dataSchema and ioConfig at the top level",
            path="$.spec",
            rule="supervisor-form",
        )
        return
    yield from _data_schema(schema, f"{prefix}.dataSchema")
    if isinstance(io.type, str) and io.type != kind:
        yield _type_mismatch(f"{prefix}.ioConfig.type", io.type, kind)
    if (
        isinstance(tuning, StreamTuningConfig)
        and isinstance(tuning.type, str)
        and tuning.type != kind
    ):
        yield _type_mismatch(f"{prefix}.tuningConfig.type", tuning.type, kind)
    if io.input_format is not None and not isinstance(io.input_format, UnsetType):
        yield from input_format_errors(io.input_format, f"{prefix}.ioConfig.inputFormat")
    yield from stream_errors(io, tuning, f"{prefix}.ioConfig", f"{prefix}.tuningConfig")
