"""`tuningConfig`: partitioning, memory and parallelism knobs for batch and streaming tasks.

Deprecated keys Druid still reads (and still writes back in stored specs, e.g.
`maxRowsPerSegment` next to `partitionsSpec`) are modelled, so a spec fetched from Druid
validates and round-trips.
"""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta

from specs.druid.base import UNSET, Opt, SpecBase

__all__ = [
    "DynamicPartitionsSpec",
    "HashedPartitionsSpec",
    "IndexTuningConfig",
    "ParallelTuningConfig",
    "PartitionsSpec",
    "RangePartitionsSpec",
    "SingleDimPartitionsSpec",
    "StreamTuningConfig",
]

Positive = Annotated[int, Meta(ge=1)]
# Druid writes -1 for "unset" in several row-count fields, so those accept -1 and up.
RowCount = Annotated[int, Meta(ge=-1)]


# --- partitionsSpec --------------------------------------------------------------------------


class _Partitions(SpecBase, frozen=True, kw_only=True, tag_field="type"):
    pass


class DynamicPartitionsSpec(_Partitions, frozen=True, kw_only=True, tag="dynamic"):
    # DynamicPartitionsSpec checks neither (null and -1 mean the default).
    max_rows_per_segment: Opt[int] = UNSET
    max_total_rows: Opt[int] = UNSET


class HashedPartitionsSpec(_Partitions, frozen=True, kw_only=True, tag="hashed"):
    num_shards: Opt[RowCount] = UNSET
    target_rows_per_segment: Opt[RowCount] = UNSET
    partition_dimensions: Opt[list[str]] = UNSET
    partition_function: Opt[str] = UNSET
    target_partition_size: Opt[RowCount] = UNSET  # deprecated spelling of the target
    max_rows_per_segment: Opt[RowCount] = UNSET  # deprecated


class SingleDimPartitionsSpec(_Partitions, frozen=True, kw_only=True, tag="single_dim"):
    partition_dimension: Opt[str] = UNSET
    target_rows_per_segment: Opt[RowCount] = UNSET
    max_rows_per_segment: Opt[RowCount] = UNSET
    assume_grouped: Opt[bool] = UNSET
    target_partition_size: Opt[RowCount] = UNSET  # deprecated
    max_partition_size: Opt[RowCount] = UNSET  # deprecated


class RangePartitionsSpec(_Partitions, frozen=True, kw_only=True, tag="range"):
    partition_dimensions: list[str]
    target_rows_per_segment: Opt[RowCount] = UNSET
    max_rows_per_segment: Opt[RowCount] = UNSET
    assume_grouped: Opt[bool] = UNSET


PartitionsSpec = (
    DynamicPartitionsSpec | HashedPartitionsSpec | SingleDimPartitionsSpec | RangePartitionsSpec
)
"""Secondary partitioning: best-effort (`dynamic`) or perfect rollup (the other three)."""


# --- splitHintSpec and indexSpec --------------------------------------------------------------


class MaxSizeSplitHint(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="maxSize"):
    max_split_size: Opt[int | str] = UNSET  # bytes, or human-readable such as "1GiB"
    max_num_files: Opt[Positive] = UNSET


class SegmentsSplitHint(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="segments"):
    max_input_segment_bytes_per_task: Opt[int | str] = UNSET
    max_num_segments: Opt[Positive] = UNSET


class IndexSpec(SpecBase, frozen=True, kw_only=True):
    bitmap: Opt[dict[str, Any]] = UNSET
    dimension_compression: Opt[str] = UNSET
    string_dictionary_encoding: Opt[dict[str, Any]] = UNSET
    metric_compression: Opt[str] = UNSET
    long_encoding: Opt[str] = UNSET
    complex_metric_compression: Opt[str] = UNSET
    json_compression: Opt[str] = UNSET
    auto_column_format_spec: Opt[dict[str, Any]] = UNSET
    segment_loader: Opt[dict[str, Any]] = UNSET


# --- tuningConfig ----------------------------------------------------------------------------


class _Tuning(SpecBase, frozen=True, kw_only=True):
    """Knobs shared by batch and streaming tasks."""

    # A plain field, checked against the task type by the rules: a tag would be written back
    # on encode even when the author left it out.
    type: Opt[str] = UNSET
    appendable_index_spec: Opt[dict[str, Any]] = UNSET
    max_rows_in_memory: Opt[Positive] = UNSET
    max_bytes_in_memory: Opt[int] = UNSET
    skip_bytes_in_memory_overhead_check: Opt[bool] = UNSET
    max_rows_per_segment: Opt[RowCount] = UNSET
    max_total_rows: Opt[int] = UNSET
    index_spec: Opt[IndexSpec] = UNSET
    index_spec_for_intermediate_persists: Opt[IndexSpec] = UNSET
    max_pending_persists: Opt[int] = UNSET
    report_parse_exceptions: Opt[bool] = UNSET
    segment_write_out_medium_factory: Opt[dict[str, Any]] = UNSET
    log_parse_exceptions: Opt[bool] = UNSET
    max_parse_exceptions: Opt[int] = UNSET
    max_saved_parse_exceptions: Opt[int] = UNSET
    max_columns_to_merge: Opt[int] = UNSET
    # IndexTuningConfig raises a value below 1 to 1 rather than refusing it.
    num_persist_threads: Opt[int] = UNSET


class IndexTuningConfig(_Tuning, frozen=True, kw_only=True):
    """`tuningConfig` of an `index` task (and the base of the parallel one)."""

    partitions_spec: Opt[PartitionsSpec] = UNSET
    force_guaranteed_rollup: Opt[bool] = UNSET
    push_timeout: Opt[int] = UNSET
    await_segment_availability_timeout_millis: Opt[int] = UNSET
    # Deprecated spellings Druid still reads.
    target_partition_size: Opt[RowCount] = UNSET
    num_shards: Opt[RowCount] = UNSET
    partition_dimensions: Opt[list[str]] = UNSET
    row_flush_boundary: Opt[int] = UNSET
    publish_timeout: Opt[int] = UNSET
    build_v9_directly: Opt[bool] = UNSET
    force_extendable_shard_specs: Opt[bool] = UNSET


class ParallelTuningConfig(IndexTuningConfig, frozen=True, kw_only=True):
    """`tuningConfig` of an `index_parallel` or `compact` task."""

    max_num_concurrent_sub_tasks: Opt[Positive] = UNSET
    max_num_sub_tasks: Opt[Positive] = UNSET  # deprecated name of the same knob
    # ParallelIndexTuningConfig checks only the sub-task and merge counts among its knobs.
    max_retry: Opt[int] = UNSET
    task_status_check_period_ms: Opt[int] = UNSET
    chat_handler_timeout: Opt[str] = UNSET
    chat_handler_num_retries: Opt[int] = UNSET
    max_num_segments_to_merge: Opt[Positive] = UNSET
    total_num_merge_tasks: Opt[Positive] = UNSET
    max_allowed_lock_count: Opt[int] = UNSET
    split_hint_spec: Opt[MaxSizeSplitHint | SegmentsSplitHint] = UNSET


class StreamTuningConfig(_Tuning, frozen=True, kw_only=True):
    """`tuningConfig` of a Kafka or Kinesis supervisor.

    One model serves both: Druid writes some Kinesis-only keys back into stored Kafka specs.
    """

    intermediate_persist_period: Opt[str] = UNSET
    intermediate_handoff_period: Opt[str] = UNSET
    handoff_condition_timeout: Opt[int] = UNSET
    reset_offset_automatically: Opt[bool] = UNSET
    worker_threads: Opt[Positive] = UNSET
    chat_threads: Opt[Positive] = UNSET
    chat_retries: Opt[int] = UNSET
    http_timeout: Opt[str] = UNSET
    shutdown_timeout: Opt[str] = UNSET
    offset_fetch_period: Opt[str] = UNSET
    skip_sequence_number_availability_check: Opt[bool] = UNSET
    repartition_transition_duration: Opt[str] = UNSET
    streaming_partitions_spec: Opt[dict[str, Any]] = UNSET
    partitions_spec: Opt[DynamicPartitionsSpec] = UNSET
    record_buffer_size: Opt[int] = UNSET
    record_buffer_size_bytes: Opt[int] = UNSET
    record_buffer_offer_timeout: Opt[int] = UNSET
    record_buffer_full_wait: Opt[int] = UNSET
    fetch_threads: Opt[Positive] = UNSET
    max_records_per_poll: Opt[Positive] = UNSET
    max_bytes_per_poll: Opt[Positive] = UNSET
