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

__all__ = ["PARTITION_RULES", "partition_errors"]

PARTITION_RULES = {
    "partition-row-aliases": "a row target may be given under one of its names only",
    "partition-rows-positive": "numShards and row targets must be positive (or -1 for unset)",
    "legacy-row-knobs": "tuningConfig targetPartitionSize and maxRowsPerSegment are exclusive",
}
"""The rules this module reports beyond the pairing rules listed in `specs.druid.rules`."""

_PARALLEL_ONLY = (RangePartitionsSpec, SingleDimPartitionsSpec)


def _effective(value: object) -> bool:
    """Whether a row-count knob is set; Druid reads null and -1 alike as unset."""
    return given(value) and value != -1


def partition_errors(
    tuning: IndexTuningConfig, prefix: str, kind: str, *, appending: bool
) -> Iterator[SpecError]:
    """Every partitioning rule `tuning` breaks, for a task of type `kind`."""
    partitions = tuning.partitions_spec
    rollup = value_or(tuning.force_guaranteed_rollup, False)
    if isinstance(tuning, ParallelTuningConfig):
        yield from _sub_tasks(tuning, prefix, kind, partitions)
    # IndexTuningConfig: "Can't use targetPartitionSize and maxRowsPerSegment together".
    if given(tuning.target_partition_size) and given(tuning.max_rows_per_segment):
        yield SpecError(
            "targetPartitionSize is the deprecated name of maxRowsPerSegment; give only one",
            path=f"{prefix}.targetPartitionSize",
            rule="legacy-row-knobs",
        )
    if partitions is None or isinstance(partitions, UnsetType):
        # Druid derives a partitionsSpec that suits forceGuaranteedRollup; with perfect rollup
        # it is a HashedPartitionsSpec built from the deprecated knobs, which must agree.
        if rollup and appending:
            # AbstractBatchIndexTask.isGuaranteedRollup, called by the parallel task's
            # constructor: "Perfect rollup cannot be guaranteed when appending".
            yield SpecError(
                "forceGuaranteedRollup: true cannot be used with appendToExisting: true; "
                "appending is best-effort rollup (dynamic partitioning)",
                path=f"{prefix}.forceGuaranteedRollup",
                rule="append-needs-dynamic",
            )
        rows = value_or(tuning.max_rows_per_segment, value_or(tuning.target_partition_size, None))
        if rollup and _effective(rows) and _effective(tuning.num_shards):
            yield SpecError(
                "with forceGuaranteedRollup and no partitionsSpec, Druid builds hashed "
                "partitioning from numShards or maxRowsPerSegment, not both",
                path=f"{prefix}.numShards",
                rule="hashed-shards-or-rows",
            )
        return
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
        # HashedPartitionsSpec: the three row names are aliases (Checks.checkAtMostOneNotNull),
        # exclusive with numShards, and what is given must be positive.
        rows = _given_rows(
            ("targetRowsPerSegment", partitions.target_rows_per_segment),
            ("targetPartitionSize", partitions.target_partition_size),
            ("maxRowsPerSegment", partitions.max_rows_per_segment),
        )
        yield from _aliases(rows, path)
        if _effective(partitions.num_shards) and rows:
            yield SpecError(
                f"hashed partitioning takes numShards or {rows[0][0]}, not both",
                path=f"{path}.numShards",
                rule="hashed-shards-or-rows",
            )
        yield from _positive([*rows, *_given_rows(("numShards", partitions.num_shards))], path)
        return
    if isinstance(partitions, SingleDimPartitionsSpec):
        # SingleDimensionPartitionsSpec: each deprecated name aliases the current one.
        targets = _given_rows(
            ("targetRowsPerSegment", partitions.target_rows_per_segment),
            ("targetPartitionSize", partitions.target_partition_size),
        )
        maxima = _given_rows(
            ("maxRowsPerSegment", partitions.max_rows_per_segment),
            ("maxPartitionSize", partitions.max_partition_size),
        )
        yield from _aliases(targets, path)
        yield from _aliases(maxima, path)
        yield from _positive([*targets[:1], *maxima[:1]], path)
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
        # DimensionRangePartitionsSpec: "... must be greater than 0".
        yield from _positive(
            _given_rows(
                ("targetRowsPerSegment", partitions.target_rows_per_segment),
                ("maxRowsPerSegment", partitions.max_rows_per_segment),
            ),
            path,
        )
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


def _given_rows(*pairs: tuple[str, object]) -> list[tuple[str, int]]:
    """The (name, value) pairs set to something other than null or -1."""
    return [(key, value) for key, value in pairs if isinstance(value, int) and value != -1]


def _aliases(rows: list[tuple[str, int]], path: str) -> Iterator[SpecError]:
    if len(rows) > 1:
        yield SpecError(
            f"{rows[0][0]} and {rows[1][0]} name the same setting; give only one",
            path=f"{path}.{rows[1][0]}",
            rule="partition-row-aliases",
        )


def _positive(rows: list[tuple[str, int]], path: str) -> Iterator[SpecError]:
    for key, value in rows:
        if value <= 0:
            yield SpecError(
                f"{key} is {value}; it must be positive (or -1, which Druid reads as unset)",
                path=f"{path}.{key}",
                rule="partition-rows-positive",
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
