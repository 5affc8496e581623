"""Compaction jobs: Druid `compact` tasks over a range, one job per chunk.

    jobs = compile_compaction(load_template("pipelines/clicks.toml"), Interval.parse(...))
    jobs = compile_datasource_compaction(DatasourceCompaction(datasource="clicks"), interval)

A template's jobs take the datasource, the segment and query granularity and rollup of the
template and the rest of `[pipeline.compaction]` (see `specs.sections`); a datasource without
a template takes the same keys from a `DatasourceCompaction`, whose granularities are optional
(left out, Druid keeps the segments' own).

Partitioning: `max_rows_per_segment` / `max_total_rows` give `dynamic` partitioning (the
default); `target_rows_per_segment` gives `hashed`, or `range` with `partition_dimensions`.

Identity follows the compiler (`specs.identity`): the canonical task JSON is hashed, and the
job id is `<prefix>_compact_<datasource>_<start>_<end>_<hash12>`. The `compact` in it tells
the job from an ingestion job of the same interval at a glance (their hashes differ anyway),
and the id still starts with `<prefix>_`, which is how the reconciler knows our tasks.

`skip_offset_from_latest` borrows Druid auto-compaction's setting: given the time `now`, the
range is clipped to end at `now - skip_offset`, aligned down to the segment granularity (or,
when that is unknown, to the chunk if it is a granularity, else to the hour), so compaction
stays behind the newest data. Without `now` it does nothing; the streaming watermark
gate (`watermark_from`, as for the template's batch jobs) is what keeps a job off intervals a
supervisor still writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from specs.compiler import CompiledJob
from specs.druid.validation import decode_task, encode_task
from specs.errors import SpecError
from specs.identity import id_problem, job_id_for, spec_hash
from specs.intervals import (
    GRANULARITIES,
    Interval,
    Period,
    align,
    check_granularity,
    floor,
    format_instant,
    is_aligned,
    split,
)
from specs.sections import CompactionSection, check_compaction
from specs.template import TEMPLATE_ROOT, PipelineTemplate, watermark_source

__all__ = [
    "DatasourceCompaction",
    "compile_compaction",
    "compile_datasource_compaction",
]

NonEmpty = Annotated[str, Meta(min_length=1)]


class DatasourceCompaction(CompactionSection, frozen=True, kw_only=True):
    """Compaction of a datasource that has no template: the section's keys, plus what a
    template would otherwise say (granularities are optional here)."""

    datasource: NonEmpty
    segment_granularity: NonEmpty | None = None
    query_granularity: NonEmpty | None = None
    rollup: bool | None = None
    task_id_prefix: Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")] = "orch"
    max_attempts: Annotated[int, Meta(ge=1, le=100)] = 3
    watermark_from: NonEmpty | None = None


class _Target(msgspec.Struct, frozen=True, kw_only=True):
    """What a compaction compiles from, whichever way it was described."""

    datasource: str
    segment: str | None
    query: str | None
    rollup: bool | None
    chunk: str
    max_sub_tasks: int
    prefix: str
    max_attempts: int
    pipeline: str
    watermark_from: str | None
    root: str  # where the compaction keys live, for error paths


def compile_compaction(
    template: PipelineTemplate, interval: Interval, *, now: datetime | None = None
) -> list[CompiledJob]:
    """One `compact` job per chunk of `interval`, from the template's `[pipeline.compaction]`
    (its defaults when the template has none), in time order.

    Args:
        template: the pipeline.
        interval: the range, aligned to the template's segment granularity.
        now: the current time; with `skip_offset_from_latest`, the range is clipped to end
            at `now - skip_offset_from_latest` (aligned down).

    Raises:
        SpecError: an unaligned range or chunk, a range wholly inside the skip offset, or a
            task Druid would refuse; the path names the template key.
    """
    section = template.compaction or CompactionSection()
    target = _Target(
        datasource=template.datasource,
        segment=template.segment_granularity,
        query=template.query_granularity,
        rollup=template.rollup,
        chunk=section.chunk or template.chunk,
        max_sub_tasks=section.max_sub_tasks or template.max_sub_tasks,
        prefix=template.task_id_prefix,
        max_attempts=template.max_attempts,
        pipeline=template.name,
        watermark_from=watermark_source(template),
        root=f"{TEMPLATE_ROOT}.compaction",
    )
    return _compile(target, section, interval, now)


def compile_datasource_compaction(
    request: DatasourceCompaction,
    interval: Interval,
    *,
    now: datetime | None = None,
    name: str | None = None,
) -> list[CompiledJob]:
    """`compile_compaction` for a datasource without a template.

    Raises:
        SpecError: as `compile_compaction`, with paths from the request's root (`$.chunk`).
    """
    try:
        _check_request(request)
    except SpecError as exc:
        if name:
            raise exc.with_source(name) from exc
        raise
    target = _Target(
        datasource=request.datasource,
        segment=request.segment_granularity,
        query=request.query_granularity,
        rollup=request.rollup,
        chunk=request.chunk or "DAY",
        max_sub_tasks=request.max_sub_tasks or 1,
        prefix=request.task_id_prefix,
        max_attempts=request.max_attempts,
        pipeline=name or "compaction",
        watermark_from=request.watermark_from,
        root="$",
    )
    return _compile(target, request, interval, now)


def _check_request(request: DatasourceCompaction) -> None:
    problem = id_problem(request.datasource)
    if problem is not None:
        raise SpecError(
            f"datasource {request.datasource!r} cannot be used: {problem}",
            path="$.datasource",
            rule="datasource-name",
        )
    check_compaction(request, "$")
    if request.segment_granularity is not None:
        check_granularity(request.segment_granularity)
    if request.query_granularity is not None and request.query_granularity.upper() not in (
        *GRANULARITIES,
        "NONE",
        "ALL",
    ):
        raise SpecError(
            f"{request.query_granularity!r} is not a granularity",
            path="$.query_granularity",
            rule="granularity-name",
        )


def _compile(
    target: _Target, section: CompactionSection, interval: Interval, now: datetime | None
) -> list[CompiledJob]:
    segment = check_granularity(target.segment) if target.segment else None
    if now is not None and section.skip_offset_from_latest is not None:
        interval = _skip_latest(interval, section.skip_offset_from_latest, now, segment, target)
    if segment is not None and not is_aligned(interval, segment):
        raise SpecError(
            f"range {interval} is not aligned to segment granularity {segment}, which Druid "
            f"requires of a compaction interval; the smallest aligned range covering it is "
            f"{align(interval, segment)}",
            path="$.interval",
            rule="interval-aligned",
        )
    jobs = []
    for chunk in split(interval, target.chunk):
        if segment is not None and not is_aligned(chunk, segment):
            raise SpecError(
                f"chunk {target.chunk!r} cuts the range at {chunk}, which is not aligned to "
                f"segment granularity {segment}; use a chunk of whole segment buckets",
                path=f"{target.root}.chunk",
                rule="interval-aligned",
            )
        jobs.append(_job(target, section, chunk))
    return jobs


def _skip_latest(
    interval: Interval, offset: str, now: datetime, segment: str | None, target: _Target
) -> Interval:
    # Aligned down to what the segments are known to align to: their granularity, else the
    # chunk when it is a granularity, else the hour, so no job ends mid-segment by accident.
    chunk = target.chunk.upper()
    end = floor(
        Period.parse(offset).subtract_from(now),
        segment or (chunk if chunk in GRANULARITIES else "HOUR"),
    )
    if end >= interval.end:
        return interval
    if end <= interval.start:
        raise SpecError(
            f"the whole range {interval} lies within skip_offset_from_latest ({offset}) of "
            f"now ({format_instant(now)}): nothing before {format_instant(end)} to compact",
            path=f"{target.root}.skip_offset_from_latest",
            rule="skip-offset",
        )
    return Interval(interval.start, end)


def _job(target: _Target, section: CompactionSection, chunk: Interval) -> CompiledJob:
    task = _task_json(target, section, chunk)
    try:
        spec = encode_task(decode_task(task))
    except SpecError as exc:
        raise SpecError(
            f"{exc.detail} (in the compiled compact task at {exc.path})",
            path=_template_path(exc.path, target.root),
            rule=exc.rule,
        ) from exc
    digest = spec_hash(spec)
    return CompiledJob(
        job_id=job_id_for(f"{target.prefix}_compact", target.datasource, chunk, digest),
        datasource=target.datasource,
        interval=str(chunk),
        spec_json=msgspec.Raw(msgspec.json.encode(spec)),
        spec_hash=digest,
        max_attempts=target.max_attempts,
        pipeline=target.pipeline,
        watermark_from=target.watermark_from,
    )


def _task_json(target: _Target, section: CompactionSection, chunk: Interval) -> dict[str, Any]:
    granularity = {
        "segmentGranularity": target.segment.upper() if target.segment else None,
        "queryGranularity": target.query.upper() if target.query else None,
        "rollup": target.rollup,
    }
    tuning: dict[str, Any] = {
        "type": "index_parallel",
        "partitionsSpec": _partitions_spec(section),
        "forceGuaranteedRollup": section.target_rows_per_segment is not None,
        **section.tuning,
        "maxNumConcurrentSubTasks": target.max_sub_tasks,
    }
    task: dict[str, Any] = {
        "type": "compact",
        "dataSource": target.datasource,
        "ioConfig": {
            "type": "compact",
            "inputSpec": {"type": "interval", "interval": str(chunk)},
        },
    }
    given = {key: value for key, value in granularity.items() if value is not None}
    if given:
        task["granularitySpec"] = given
    task["tuningConfig"] = tuning
    task["context"] = dict(section.context)
    return task


def _partitions_spec(section: CompactionSection) -> dict[str, Any]:
    if section.target_rows_per_segment is None:
        spec: dict[str, Any] = {"type": "dynamic"}
        if section.max_rows_per_segment is not None:
            spec["maxRowsPerSegment"] = section.max_rows_per_segment
        if section.max_total_rows is not None:
            spec["maxTotalRows"] = section.max_total_rows
        return spec
    if section.partition_dimensions:
        return {
            "type": "range",
            "partitionDimensions": list(section.partition_dimensions),
            "targetRowsPerSegment": section.target_rows_per_segment,
        }
    return {"type": "hashed", "targetRowsPerSegment": section.target_rows_per_segment}


# Where each part of a compiled compact task comes from, relative to the compaction keys.
_SPEC_TO_KEYS = (
    ("$.tuningConfig.partitionsSpec", ".target_rows_per_segment"),
    ("$.tuningConfig.maxNumConcurrentSubTasks", ".max_sub_tasks"),
    ("$.tuningConfig", ".tuning"),
    ("$.context", ".context"),
    ("$.granularitySpec.segmentGranularity", ".segment_granularity"),
    ("$.granularitySpec.queryGranularity", ".query_granularity"),
)


def _template_path(spec_path: str, root: str) -> str:
    for prefix, key in _SPEC_TO_KEYS:
        if spec_path == prefix or spec_path.startswith((prefix + ".", prefix + "[")):
            rest = spec_path[len(prefix) :] if key in (".tuning", ".context") else ""
            if key.endswith("granularity") and root != "$":
                return f"{TEMPLATE_ROOT}{key}"  # a template's granularities are its own keys
            return f"{root}{key}{rest}"
    return root
