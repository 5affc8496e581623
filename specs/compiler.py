"""The pipeline compiler: a pipeline template plus an interval give one `index_parallel` spec.

Identity is deterministic. The compiled spec is canonicalised (sorted keys, compact JSON) and
hashed; the job id and every attempt's Druid task id derive from that hash:

    job id   <prefix>_<datasource>_<start>_<end>_<hash12>
    task id  <job id>_<attempt>

`maxNumConcurrentSubTasks` is left out of the hash: it follows the cluster's free capacity at
compile time, and a job must keep its identity when capacity changes between a crash and the
resubmission, or the same work would be submitted twice under two ids.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from specs.errors import SpecError
from specs.intervals import Interval, check_granularity, format_instant, is_aligned, split
from specs.model import decode_task, encode_task

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.:\-]")
CAPACITY_FIELDS = ("maxNumConcurrentSubTasks",)


class Partitioning(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    type: str = "dynamic"
    max_rows_per_segment: int | None = None
    num_shards: int | None = None
    target_rows_per_segment: int | None = None
    partition_dimensions: list[str] = []


class PipelineTemplate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A TOML pipeline template. `input` is Druid's inputSource with `{start}`/`{end}`/
    `{date}` placeholders filled per interval; `format` is Druid's inputFormat."""

    name: str
    datasource: str
    input: dict[str, Any]
    format: dict[str, Any] | None = None
    timestamp_column: str = "timestamp"
    timestamp_format: str = "auto"
    dimensions: list[str | dict[str, Any]] = []
    schema_discovery: bool = False
    metrics: list[dict[str, Any]] = []
    rollup: bool = False
    segment_granularity: str = "DAY"
    query_granularity: str = "NONE"
    chunk: str = "DAY"
    partitioning: Partitioning = msgspec.field(default_factory=Partitioning)
    transforms: list[dict[str, Any]] = []
    filter: dict[str, Any] | None = None
    tuning: dict[str, Any] = {}
    context: dict[str, Any] = {}
    task_id_prefix: str = "orch"
    max_attempts: int = 3
    max_sub_tasks: int = 4


class CompiledJob(msgspec.Struct, frozen=True):
    job_id: str
    datasource: str
    interval: str
    spec: dict[str, Any]  # the task JSON without its `id`
    spec_hash: str
    max_attempts: int
    pipeline: str


def load_template(source: str | Path, *, text: str | None = None) -> PipelineTemplate:
    """Decode a pipeline template from a TOML file (or `text`), with errors naming the file."""
    name = str(source)
    try:
        raw = text if text is not None else Path(source).read_text()
        data = tomllib.loads(raw)
        return msgspec.convert(data.get("pipeline", data), PipelineTemplate)
    except OSError as exc:
        raise SpecError(f"cannot read pipeline template: {exc}", source=name, rule="io") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"not valid TOML: {exc}", source=name, rule="toml") from exc
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).rpartition(" - at `")
        if not message:
            message, path = str(exc), "$`"
        raise SpecError(message, path=path.rstrip("`"), source=name, rule="template") from exc


def builtin_template(name: str = "wikipedia") -> PipelineTemplate:
    path = Path(__file__).with_name("pipelines") / f"{name}.toml"
    return load_template(path)


def canonical_json(value: Any) -> bytes:
    return msgspec.json.encode(_sorted(value))


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def spec_hash(spec: dict[str, Any]) -> str:
    """sha256 of the canonical spec without its id and capacity-derived fields."""
    identity = {k: v for k, v in spec.items() if k not in ("id", "groupId", "resource")}
    tuning = (identity.get("spec") or {}).get("tuningConfig")
    if isinstance(tuning, dict):
        identity = dict(identity)
        inner = dict(identity["spec"])
        inner["tuningConfig"] = {k: v for k, v in tuning.items() if k not in CAPACITY_FIELDS}
        identity["spec"] = inner
    return hashlib.sha256(canonical_json(identity)).hexdigest()


def _fill(value: Any, interval: Interval) -> Any:
    if isinstance(value, str):
        return value.format_map(
            {
                "start": format_instant(interval.start),
                "end": format_instant(interval.end),
                "date": interval.start.strftime("%Y-%m-%d"),
                "year": interval.start.strftime("%Y"),
                "month": interval.start.strftime("%m"),
                "day": interval.start.strftime("%d"),
                "hour": interval.start.strftime("%H"),
            }
        )
    if isinstance(value, dict):
        return {k: _fill(v, interval) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, interval) for v in value]
    return value


def job_id_for(prefix: str, datasource: str, interval: Interval, digest: str) -> str:
    start = interval.start.strftime("%Y%m%dT%H%M%SZ")
    end = interval.end.strftime("%Y%m%dT%H%M%SZ")
    raw = f"{prefix}_{datasource}_{start}_{end}_{digest[:12]}"
    return _ID_UNSAFE.sub("-", raw)


def task_id_for(job_id: str, attempt: int) -> str:
    """The Druid task id of attempt `attempt` (1-based) of a job."""
    return f"{job_id}_{attempt}"


def compile_job(
    template: PipelineTemplate, interval: Interval, *, max_sub_tasks: int | None = None
) -> CompiledJob:
    """Compile one validated `index_parallel` spec for `interval`.

    Raises:
        SpecError: the template or the interval cannot give a valid spec.
    """
    segment = check_granularity(template.segment_granularity)
    if not is_aligned(interval, segment):
        raise SpecError(
            f"interval {interval} is not aligned to segmentGranularity {segment}",
            path="$.interval",
            rule="interval-aligned",
        )
    p = template.partitioning
    partitions: dict[str, Any] = {"type": p.type}
    for key, val in (
        ("maxRowsPerSegment", p.max_rows_per_segment),
        ("numShards", p.num_shards),
        ("targetRowsPerSegment", p.target_rows_per_segment),
    ):
        if val is not None:
            partitions[key] = val
    if p.partition_dimensions:
        partitions["partitionDimensions"] = p.partition_dimensions
    sub_tasks = max(1, min(template.max_sub_tasks, max_sub_tasks or template.max_sub_tasks))
    tuning: dict[str, Any] = {
        "type": "index_parallel",
        "partitionsSpec": partitions,
        "forceGuaranteedRollup": p.type != "dynamic",
        "maxNumConcurrentSubTasks": sub_tasks,
        **template.tuning,
    }
    data_schema: dict[str, Any] = {
        "dataSource": template.datasource,
        "timestampSpec": {"column": template.timestamp_column, "format": template.timestamp_format},
        "dimensionsSpec": {
            "dimensions": template.dimensions,
            "useSchemaDiscovery": template.schema_discovery,
        },
        "metricsSpec": template.metrics,
        "granularitySpec": {
            "type": "uniform",
            "segmentGranularity": segment,
            "queryGranularity": template.query_granularity.upper(),
            "rollup": template.rollup,
            "intervals": [str(interval)],
        },
    }
    if template.transforms or template.filter:
        data_schema["transformSpec"] = {
            "transforms": template.transforms,
            "filter": template.filter,
        }
    io_config: dict[str, Any] = {
        "type": "index_parallel",
        "inputSource": _fill(template.input, interval),
        "appendToExisting": False,
    }
    if template.format is not None:
        io_config["inputFormat"] = template.format
    task: dict[str, Any] = {
        "type": "index_parallel",
        "spec": {"dataSchema": data_schema, "ioConfig": io_config, "tuningConfig": tuning},
        "context": dict(template.context),
    }
    spec = encode_task(decode_task(task))
    digest = spec_hash(spec)
    return CompiledJob(
        job_id=job_id_for(template.task_id_prefix, template.datasource, interval, digest),
        datasource=template.datasource,
        interval=str(interval),
        spec=spec,
        spec_hash=digest,
        max_attempts=template.max_attempts,
        pipeline=template.name,
    )


def compile_range(
    template: PipelineTemplate, interval: Interval, *, max_sub_tasks: int | None = None
) -> list[CompiledJob]:
    """One job per `template.chunk` of `interval`."""
    return [
        compile_job(template, chunk, max_sub_tasks=max_sub_tasks)
        for chunk in split(interval, template.chunk)
    ]
