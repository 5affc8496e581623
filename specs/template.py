"""Pipeline templates: a TOML file that describes one datasource's batch ingestion.

    [pipeline]
    name = "wikipedia-daily"
    datasource = "wikipedia"
    chunk = "DAY"                      # how a range is split into jobs (a granularity or P1D...)
    segment_granularity = "DAY"
    query_granularity = "HOUR"
    rollup = true
    timestamp_column = "time"
    timestamp_format = "iso"
    dimensions = ["channel", { type = "long", name = "delta" }]
    metrics = [{ type = "count", name = "edits" }]
    max_sub_tasks = 4                  # the most sub-tasks one job may use
    max_attempts = 5

    [pipeline.input]                   # Druid's inputSource, with {placeholders}
    type = "http"
    uris = ["https://data.example.com/wikipedia/{date}.json.gz"]

    [pipeline.format]                  # Druid's inputFormat
    type = "json"

    [pipeline.partitioning]
    type = "hashed"                    # dynamic | hashed | single_dim | range
    num_shards = 4

Two optional sections add a Kafka or Kinesis supervisor (`[pipeline.stream]`) and `compact`
tasks (`[pipeline.compaction]`) for the same datasource; `specs.sections` describes them. The
batch jobs of a template with a stream wait for its watermark (`watermark_from`, the
supervisor id); a template without one may name another supervisor with
`watermark_from = "<supervisor id>"`.

Template keys are snake_case. The objects handed to Druid as they are (`input`, `format`,
`dimensions` entries, `metrics`, `transforms`, `filter`, `tuning`, `context`) keep Druid's
camelCase. Placeholders in `input` strings: `{start}`, `{end}` (ISO instants), `{interval}`,
`{date}` (YYYY-MM-DD), `{year}`, `{month}`, `{day}`, `{hour}`, all of the job's interval start
unless named otherwise. Other braces are left alone; an unknown `{name}` is an error.

`load_template` checks a template completely when it is loaded (it compiles a probe job), so
a bad template fails at once with the file, the template path and the rule.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from specs.errors import SpecError, from_validation_error
from specs.identity import id_problem
from specs.intervals import GRANULARITIES, Interval, format_instant
from specs.sections import (
    SECTION_TYPES,
    CompactionSection,
    StreamSection,
    check_chunk,
    check_compaction,
    check_stream,
)
from specs.text import read_spec_text

__all__ = [
    "PLACEHOLDERS",
    "TEMPLATE_ROOT",
    "DynamicPartitioning",
    "HashedPartitioning",
    "Partitioning",
    "PipelineTemplate",
    "RangePartitioning",
    "SingleDimPartitioning",
    "check_template",
    "data_schema",
    "decode_template",
    "fill_placeholders",
    "read_template_text",
    "template_path",
    "watermark_source",
]

TEMPLATE_ROOT = "$.pipeline"
PLACEHOLDERS = ("start", "end", "interval", "date", "year", "month", "day", "hour")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

NonEmpty = Annotated[str, Meta(min_length=1)]
Rows = Annotated[int, Meta(ge=1)]


class _Template(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class DynamicPartitioning(_Template, frozen=True, kw_only=True, tag_field="type", tag="dynamic"):
    max_rows_per_segment: Rows | None = None
    max_total_rows: Rows | None = None


class HashedPartitioning(_Template, frozen=True, kw_only=True, tag_field="type", tag="hashed"):
    num_shards: Rows | None = None
    target_rows_per_segment: Rows | None = None
    partition_dimensions: list[NonEmpty] = []


class SingleDimPartitioning(
    _Template, frozen=True, kw_only=True, tag_field="type", tag="single_dim"
):
    partition_dimension: NonEmpty
    target_rows_per_segment: Rows | None = None
    max_rows_per_segment: Rows | None = None


class RangePartitioning(_Template, frozen=True, kw_only=True, tag_field="type", tag="range"):
    partition_dimensions: Annotated[list[NonEmpty], Meta(min_length=1)]
    target_rows_per_segment: Rows | None = None
    max_rows_per_segment: Rows | None = None


Partitioning = DynamicPartitioning | HashedPartitioning | SingleDimPartitioning | RangePartitioning


class PipelineTemplate(_Template, frozen=True, kw_only=True):
    """One datasource's batch pipeline; see the module docstring for the TOML form."""

    name: NonEmpty
    datasource: NonEmpty
    input: dict[str, Any]
    format: dict[str, Any] | None = None
    timestamp_column: NonEmpty = "timestamp"
    timestamp_format: NonEmpty = "auto"
    dimensions: list[NonEmpty | dict[str, Any]] = []
    schema_discovery: bool = False
    metrics: list[dict[str, Any]] = []
    rollup: bool = False
    segment_granularity: NonEmpty = "DAY"
    query_granularity: NonEmpty = "NONE"
    chunk: NonEmpty = "DAY"
    partitioning: Partitioning = DynamicPartitioning()
    transforms: list[dict[str, Any]] = []
    filter: dict[str, Any] | None = None
    tuning: dict[str, Any] = {}
    context: dict[str, Any] = {}
    task_id_prefix: Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")] = "orch"
    max_attempts: Annotated[int, Meta(ge=1, le=100)] = 3
    max_sub_tasks: Annotated[int, Meta(ge=1, le=1000)] = 4
    watermark_from: NonEmpty | None = None  # default: the stream's supervisor, if any
    stream: StreamSection | None = None
    compaction: CompactionSection | None = None

    @property
    def min_sub_tasks(self) -> int:
        """Range partitioning cannot run in sequential mode, so it needs two sub-tasks."""
        return 2 if isinstance(self.partitioning, SingleDimPartitioning | RangePartitioning) else 1


# tuningConfig keys the compiler derives from other template keys.
_TUNING_SET_ELSEWHERE = {
    "type": "it is always index_parallel",
    "partitionsSpec": "describe it in [pipeline.partitioning]",
    "forceGuaranteedRollup": "it follows [pipeline.partitioning] (true unless dynamic)",
    "maxNumConcurrentSubTasks": "use max_sub_tasks (and the capacity allowance)",
    "maxNumSubTasks": "use max_sub_tasks (and the capacity allowance)",
}


class _Document(_Template, frozen=True, kw_only=True):
    pipeline: PipelineTemplate


_TEMPLATE_FIELDS = tuple(
    name
    for cls in (PipelineTemplate, _Document, *Partitioning.__args__, *SECTION_TYPES)
    for name in cls.__struct_fields__
)


def decode_template(text: str, *, source: str = "") -> tuple[PipelineTemplate, str]:
    """Decode a template from TOML text and check the fields that need no compilation.

    Returns:
        The template and the JSON path of its root (`$.pipeline`, or `$` for a document
        without a `[pipeline]` table).

    Raises:
        SpecError: malformed TOML, unknown or mistyped keys, bad names or granularities.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"not valid TOML: {exc}", source=source, rule="toml") from exc
    try:
        if "pipeline" in data:
            template = msgspec.convert(data, _Document).pipeline
            root = TEMPLATE_ROOT
        else:
            template = msgspec.convert(data, PipelineTemplate)
            root = "$"
    except msgspec.ValidationError as exc:
        raise from_validation_error(exc, known_fields=_TEMPLATE_FIELDS, source=source) from exc
    try:
        check_template(template)
    except SpecError as exc:
        raise SpecError(exc.detail, path=root + exc.path[1:], rule=exc.rule, source=source) from exc
    return template, root


def check_template(template: PipelineTemplate) -> None:
    """Check what the types cannot: names, granularities, the chunk and placeholders.

    Raises:
        SpecError: with a path relative to the template root (`$.chunk`).
    """
    problem = id_problem(template.datasource)
    if problem is not None:
        raise SpecError(
            f"datasource {template.datasource!r} cannot be used: {problem}",
            path="$.datasource",
            rule="datasource-name",
        )
    for key, value, allowed in (
        ("segment_granularity", template.segment_granularity, GRANULARITIES),
        ("query_granularity", template.query_granularity, (*GRANULARITIES, "NONE", "ALL")),
    ):
        if value.upper() not in allowed:
            raise SpecError(
                f"{value!r} is not a granularity; use one of {', '.join(allowed)}",
                path=f"$.{key}",
                rule="granularity-name",
            )
    check_chunk(template.chunk, "$.chunk")
    for key in template.tuning:
        if key in _TUNING_SET_ELSEWHERE:
            raise SpecError(
                f"tuning.{key} is set by the compiler; {_TUNING_SET_ELSEWHERE[key]}",
                path=f"$.tuning.{key}",
                rule="template-tuning-key",
            )
    probe = Interval.parse("2000-01-01/2000-01-02")
    fill_placeholders(template.input, probe, path="$.input")
    if template.stream is not None:
        check_stream(template.stream, "$.stream")
        if template.stream.format is None and template.format is None:
            raise SpecError(
                "a stream needs an input format: set [pipeline.stream] format, or "
                "[pipeline.format], which the stream then shares with the batch jobs",
                path="$.stream.format",
                rule="stream-format",
            )
        own = template.stream.supervisor_id or template.datasource
        if template.watermark_from not in (None, own):
            raise SpecError(
                f"watermark_from is {template.watermark_from!r}, but the batch jobs of a "
                f"template with a stream wait for that stream's supervisor ({own!r}); "
                "remove watermark_from",
                path="$.watermark_from",
                rule="watermark-from",
            )
    if template.compaction is not None:
        check_compaction(template.compaction, "$.compaction")


def watermark_source(template: PipelineTemplate) -> str | None:
    """The supervisor whose watermark gates the template's batch and compaction jobs."""
    if template.stream is not None:
        return template.stream.supervisor_id or template.datasource
    return template.watermark_from


def data_schema(template: PipelineTemplate) -> dict[str, Any]:
    """The dataSchema every spec of the template shares, batch intervals left out.

    The batch jobs and the supervisor write one datasource, so they must agree on how a row
    becomes a column; building the schema in one place keeps them from drifting apart.
    """
    schema: dict[str, Any] = {
        "dataSource": template.datasource,
        "timestampSpec": {"column": template.timestamp_column, "format": template.timestamp_format},
        "dimensionsSpec": {
            "dimensions": list(template.dimensions),
            "useSchemaDiscovery": template.schema_discovery,
        },
        "metricsSpec": list(template.metrics),
        "granularitySpec": {
            "type": "uniform",
            "segmentGranularity": template.segment_granularity.upper(),
            "queryGranularity": template.query_granularity.upper(),
            "rollup": template.rollup,
        },
    }
    if template.transforms or template.filter is not None:
        transform: dict[str, Any] = {"transforms": list(template.transforms)}
        if template.filter is not None:
            transform["filter"] = template.filter
        schema["transformSpec"] = transform
    return schema


def fill_placeholders(value: Any, interval: Interval, *, path: str = "$") -> Any:
    """`value` with `{start}`, `{date}`... in every string replaced for `interval`.

    Raises:
        SpecError: a `{name}` that is not a known placeholder (rule `template-placeholder`).
    """
    if isinstance(value, str):
        values = _placeholder_values(interval)

        def replace(match: re.Match[str]) -> str:
            name = match[1]
            if name not in values:
                raise SpecError(
                    f"unknown placeholder {{{name}}}; known: "
                    + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS),
                    path=path,
                    rule="template-placeholder",
                )
            return values[name]

        return _PLACEHOLDER.sub(replace, value)
    if isinstance(value, dict):
        return {k: fill_placeholders(v, interval, path=f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [fill_placeholders(v, interval, path=f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _placeholder_values(interval: Interval) -> dict[str, str]:
    start = interval.start
    return {
        "start": format_instant(start),
        "end": format_instant(interval.end),
        "interval": str(interval),
        "date": start.strftime("%Y-%m-%d"),
        "year": start.strftime("%Y"),
        "month": start.strftime("%m"),
        "day": start.strftime("%d"),
        "hour": start.strftime("%H"),
    }


# Where each part of a compiled spec comes from in the template, longest prefix first.
_SPEC_TO_TEMPLATE = (
    ("$.spec.ioConfig.inputSource", "input"),
    ("$.spec.ioConfig.inputFormat", "format"),
    ("$.spec.dataSchema.dataSource", "datasource"),
    ("$.spec.dataSchema.timestampSpec.column", "timestamp_column"),
    ("$.spec.dataSchema.timestampSpec", "timestamp_format"),
    ("$.spec.dataSchema.dimensionsSpec.dimensions", "dimensions"),
    ("$.spec.dataSchema.dimensionsSpec", "schema_discovery"),
    ("$.spec.dataSchema.metricsSpec", "metrics"),
    ("$.spec.dataSchema.granularitySpec.segmentGranularity", "segment_granularity"),
    ("$.spec.dataSchema.granularitySpec.queryGranularity", "query_granularity"),
    ("$.spec.dataSchema.granularitySpec.rollup", "rollup"),
    ("$.spec.dataSchema.transformSpec.transforms", "transforms"),
    ("$.spec.dataSchema.transformSpec.filter", "filter"),
    ("$.spec.tuningConfig.partitionsSpec", "partitioning"),
    ("$.spec.tuningConfig.maxNumConcurrentSubTasks", "max_sub_tasks"),
    ("$.spec.tuningConfig", "tuning"),
    ("$.context", "context"),
)


def template_path(spec_path: str, root: str = TEMPLATE_ROOT) -> str:
    """The template key a path in the compiled spec comes from (`$.pipeline.input.uris`)."""
    for prefix, key in _SPEC_TO_TEMPLATE:
        if spec_path == prefix or spec_path.startswith((prefix + ".", prefix + "[")):
            rest = spec_path[len(prefix) :] if key in _PASSED_THROUGH else ""
            return f"{root}.{key}{rest}"
    return root


# Template keys whose value is handed to Druid as it is, so sub-paths carry over.
_PASSED_THROUGH = frozenset(
    ("input", "format", "dimensions", "metrics", "transforms", "filter", "tuning", "context")
)


def read_template_text(source: str | Path) -> str:
    """The text of a template file.

    Raises:
        SpecError: the file cannot be read (rule `io`) or is not UTF-8 (rule `utf-8`).
    """
    return read_spec_text(source, what="pipeline template")
