"""Partitioning rules: how partitionsSpec, forceGuaranteedRollup and parallelism must agree.

Druid checks the rollup pairing while deserializing a spec (400 at submit); the rest make the
task fail after it was accepted, in its readiness check or its first phase.
"""

from __future__ import annotations

from collections.abc import Iterator

from msgspec import UnsetType

from specs.druid.base import given, tag_of, value_or
from specs.druid.tuning import (
    DynamicPartitionsSpec,
    HashedPartitionsSpec,
    IndexTuningConfig,
    ParallelTuningConfig,
    PartitionsSpec,
    RangePartitionsSpec,
    SingleDimPartitionsSpec,
)
from specs.errors import SpecError

__all__ = ["partition_errors"]

_PARALLEL_ONLY = (RangePartitionsSpec, SingleDimPartitionsSpec)


def _effective(value: object) -> bool:
    """Whether a row-count knob is set; Druid reads null and -1 alike as unset."""
    return given(value) and value != -1


def partition_errors(
    tuning: IndexTuningConfig, prefix: str, kind: str, *, appending: bool
) -> Iterator[SpecError]:
    """Every partitioning rule `tuning` breaks, for a task of type `kind`."""
    partitions = tuning.partitions_spec
    if isinstance(tuning, ParallelTuningConfig):
        yield from _sub_tasks(tuning, prefix, kind, partitions)
    if partitions is None or isinstance(partitions, UnsetType):
        # Druid derives a partitionsSpec that suits forceGuaranteedRollup: nothing to pair.
        return
    rollup = value_or(tuning.force_guaranteed_rollup, False)
    name = tag_of(partitions)
    path = f"{prefix}.partitionsSpec"
    if isinstance(partitions, DynamicPartitionsSpec):
        if rollup:
            yield SpecError(
                "a dynamic partitionsSpec cannot be used with forceGuaranteedRollup: true "
                "(dynamic partitioning is best-effort rollup)",
                path=path,
                rule="dynamic-needs-best-effort-rollup",
            )
    else:
        if not rollup:
            yield SpecError(
                f"partitionsSpec type {name!r} needs forceGuaranteedRollup: true; only dynamic "
                "partitioning works with best-effort rollup",
                path=f"{prefix}.forceGuaranteedRollup",
                rule="partitions-need-perfect-rollup",
            )
        if appending:
            yield SpecError(
                f"appendToExisting: true works only with dynamic partitioning, not {name!r}",
                path=path,
                rule="append-needs-dynamic",
            )
    if kind == "index" and isinstance(partitions, _PARALLEL_ONLY):
        yield SpecError(
            f"task type 'index' supports only dynamic and hashed partitioning, not {name!r}; "
            "Druid would fail the task in its readiness check (use index_parallel)",
            path=f"{path}.type",
            rule="index-partitions",
        )
    yield from _partition_shape(partitions, path)


def _partition_shape(partitions: PartitionsSpec, path: str) -> Iterator[SpecError]:
    if isinstance(partitions, HashedPartitionsSpec):
        rows = [
            key
            for key, value in (
                ("targetRowsPerSegment", partitions.target_rows_per_segment),
                ("targetPartitionSize", partitions.target_partition_size),
                ("maxRowsPerSegment", partitions.max_rows_per_segment),
            )
            if _effective(value)
        ]
        if _effective(partitions.num_shards) and rows:
            yield SpecError(
                f"hashed partitioning takes numShards or {rows[0]}, not both",
                path=f"{path}.numShards",
                rule="hashed-shards-or-rows",
            )
        return
    if isinstance(partitions, SingleDimPartitionsSpec):
        if (
            not isinstance(partitions.partition_dimension, str)
            or not partitions.partition_dimension
        ):
            yield SpecError(
                "single_dim partitioning needs partitionDimension",
                path=f"{path}.partitionDimension",
                rule="range-needs-dimensions",
            )
        target = _effective(partitions.target_rows_per_segment) or _effective(
            partitions.target_partition_size
        )
        most = _effective(partitions.max_rows_per_segment) or _effective(
            partitions.max_partition_size
        )
    elif isinstance(partitions, RangePartitionsSpec):
        if not partitions.partition_dimensions:
            yield SpecError(
                "range partitioning needs at least one entry in partitionDimensions",
                path=f"{path}.partitionDimensions",
                rule="range-needs-dimensions",
            )
        target = _effective(partitions.target_rows_per_segment)
        most = _effective(partitions.max_rows_per_segment)
    else:
        return
    if target == most:
        found = "both" if target else "neither"
        yield SpecError(
            f"{tag_of(partitions)} partitioning needs exactly one of targetRowsPerSegment and "
            f"maxRowsPerSegment; found {found}",
            path=f"{path}.targetRowsPerSegment",
            rule="range-row-target",
        )


def _sub_tasks(
    tuning: ParallelTuningConfig, prefix: str, kind: str, partitions: object
) -> Iterator[SpecError]:
    if given(tuning.max_num_sub_tasks) and given(tuning.max_num_concurrent_sub_tasks):
        yield SpecError(
            "maxNumSubTasks is the deprecated name of maxNumConcurrentSubTasks; give only one",
            path=f"{prefix}.maxNumSubTasks",
            rule="sub-task-knobs-exclusive",
        )
    concurrent = value_or(
        tuning.max_num_concurrent_sub_tasks, value_or(tuning.max_num_sub_tasks, 1)
    )
    if isinstance(partitions, _PARALLEL_ONLY) and concurrent < 2:
        yield SpecError(
            f"{tag_of(partitions)} partitioning is not supported in sequential mode; "
            f"maxNumConcurrentSubTasks is {concurrent} and must be at least 2 "
            f"(task type {kind!r})",
            path=f"{prefix}.maxNumConcurrentSubTasks",
            rule="range-not-sequential",
        )
