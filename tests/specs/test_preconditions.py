"""Druid's constructor preconditions: each spec here is one Druid refuses at submission, and
each is reported with the rule and the JSON path that say what and where. The second half
holds specs our models once refused although Druid accepts them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from specs.model import RULES, check_spec
from tests.specs.test_rules import CASES as RULE_CASES
from tests.specs.test_rules import DS, IO, TS, Mutation, _partitions, _set, batch, kafka, tuning

DOCS = Path(__file__).resolve().parents[2] / "docs" / "validation.md"
FILTER = f"{DS}.transformSpec.filter"
SOURCE = f"{IO}.inputSource"
FORMAT = f"{IO}.inputFormat"


def _metrics(*aggregators: dict[str, Any]) -> Mutation:
    return _set("spec", "dataSchema", "metricsSpec", value=list(aggregators))


def _filter(value: dict[str, Any]) -> Mutation:
    return _set("spec", "dataSchema", "transformSpec", value={"filter": value})


def _source(value: dict[str, Any]) -> Mutation:
    return _set("spec", "ioConfig", "inputSource", value=value)


def _format(value: dict[str, Any]) -> Mutation:
    return _set("spec", "ioConfig", "inputFormat", value=value)


def _dimensions(**spec: Any) -> Mutation:
    return _set("spec", "dataSchema", "dimensionsSpec", value=spec)


def _stream_io(key: str, value: Any) -> Mutation:
    return _set("spec", "ioConfig", key, value=value)


def _rollup(**knobs: Any) -> Mutation:
    def apply(spec: dict[str, Any]) -> None:
        tuning(spec).update(knobs)

    return apply


INTERVAL = "2024-01-01/2024-01-02"
CASES: list[tuple[str, Callable[..., dict[str, Any]], Mutation, str, str]] = [
    # --- aggregators (Simple*AggregatorFactory, DataSchema) ---
    (
        "longSum without fieldName or expression",
        batch,
        _metrics({"type": "longSum", "name": "n"}),
        "aggregator-field-or-expression",
        f"{DS}.metricsSpec[0].fieldName",
    ),
    (
        "doubleMax with both fieldName and expression",
        batch,
        _metrics({"type": "doubleMax", "name": "m", "fieldName": "x", "expression": "x * 2"}),
        "aggregator-field-or-expression",
        f"{DS}.metricsSpec[0].fieldName",
    ),
    (
        "metric with an empty name",
        batch,
        _metrics({"type": "count", "name": ""}),
        "metric-name-empty",
        f"{DS}.metricsSpec[0].name",
    ),
    # --- filters ---
    (
        "and filter without fields",
        batch,
        _filter({"type": "and", "fields": []}),
        "filter-needs-fields",
        f"{FILTER}.fields",
    ),
    (
        "or filter without fields, inside a filtered aggregator",
        batch,
        _metrics(
            {
                "type": "filtered",
                "filter": {"type": "or", "fields": []},
                "aggregator": {"type": "count", "name": "c"},
            }
        ),
        "filter-needs-fields",
        f"{DS}.metricsSpec[0].filter.fields",
    ),
    (
        "bound filter without bounds",
        batch,
        _filter({"type": "bound", "dimension": "page"}),
        "filter-needs-bound",
        f"{FILTER}.lower",
    ),
    (
        "range filter with null bounds, nested in and",
        batch,
        _filter(
            {
                "type": "and",
                "fields": [
                    {"type": "true"},
                    {"type": "range", "column": "n", "matchValueType": "LONG", "upper": None},
                ],
            }
        ),
        "filter-needs-bound",
        f"{FILTER}.fields[1].lower",
    ),
    (
        "equals filter with a null matchValue",
        batch,
        _filter(
            {"type": "equals", "column": "page", "matchValueType": "STRING", "matchValue": None}
        ),
        "equals-needs-value",
        f"{FILTER}.matchValue",
    ),
    (
        "in filter without values",
        batch,
        _filter({"type": "in", "dimension": "page"}),
        "in-filter-values",
        f"{FILTER}.values",
    ),
    (
        "in filter naming no column",
        batch,
        _filter({"type": "in", "values": ["a"]}),
        "in-filter-values",
        f"{FILTER}.dimension",
    ),
    (
        "like filter with a two-character escape",
        batch,
        _filter({"type": "like", "dimension": "page", "pattern": "a%", "escape": "\\\\"}),
        "like-escape",
        f"{FILTER}.escape",
    ),
    (
        "interval filter without intervals, under not",
        batch,
        _filter({"type": "not", "field": {"type": "interval", "dimension": "t", "intervals": []}}),
        "interval-filter-intervals",
        f"{FILTER}.field.intervals",
    ),
    (
        "druid input source with a bad filter",
        batch,
        _source(
            {
                "type": "druid",
                "dataSource": "wiki",
                "interval": INTERVAL,
                "filter": {"type": "bound", "dimension": "x"},
            }
        ),
        "filter-needs-bound",
        f"{SOURCE}.filter.lower",
    ),
    # --- transforms ---
    (
        "two transforms with one name",
        batch,
        _set(
            "spec",
            "dataSchema",
            "transformSpec",
            value={
                "transforms": [
                    {"type": "expression", "name": "t", "expression": "1"},
                    {"type": "expression", "name": "t", "expression": "2"},
                ]
            },
        ),
        "transform-name-unique",
        f"{DS}.transformSpec.transforms[1].name",
    ),
    # --- input sources ---
    (
        "local source with baseDir but no filter",
        batch,
        _source({"type": "local", "baseDir": "/data"}),
        "local-source-files",
        f"{SOURCE}.filter",
    ),
    (
        "local source with neither baseDir nor files",
        batch,
        _source({"type": "local", "files": []}),
        "local-source-files",
        f"{SOURCE}.baseDir",
    ),
    (
        "http source reading a file uri",
        batch,
        _source({"type": "http", "uris": ["https://h/a.json", "file:///etc/passwd"]}),
        "http-uri-scheme",
        f"{SOURCE}.uris[1]",
    ),
    (
        "s3 source with uris and prefixes",
        batch,
        _source({"type": "s3", "uris": ["s3://b/k.json"], "prefixes": ["s3://b/p/"]}),
        "cloud-source-location",
        f"{SOURCE}.prefixes",
    ),
    (
        "google source with only an empty list",
        batch,
        _source({"type": "google", "uris": []}),
        "cloud-source-location",
        f"{SOURCE}.uris",
    ),
    (
        "druid source with neither interval nor segments, in a combining source",
        batch,
        _source({"type": "combining", "delegates": [{"type": "druid", "dataSource": "wiki"}]}),
        "druid-source-interval-or-segments",
        f"{SOURCE}.delegates[0].interval",
    ),
    # --- input formats (FlatTextInputFormat) ---
    (
        "csv without columns or header",
        batch,
        _format({"type": "csv"}),
        "delimited-columns",
        f"{FORMAT}.findColumnsFromHeader",
    ),
    (
        "csv with findColumnsFromHeader false and no columns",
        batch,
        _format({"type": "csv", "findColumnsFromHeader": False}),
        "delimited-columns",
        f"{FORMAT}.findColumnsFromHeader",
    ),
    (
        "csv with both header flags",
        batch,
        _format({"type": "csv", "hasHeaderRow": True, "findColumnsFromHeader": True}),
        "delimited-columns",
        f"{FORMAT}.hasHeaderRow",
    ),
    (
        "csv column holding the delimiter",
        batch,
        _format({"type": "csv", "columns": ["ts", "a,b"]}),
        "delimited-columns",
        f"{FORMAT}.columns[1]",
    ),
    (
        "tsv whose list delimiter is its delimiter",
        batch,
        _format({"type": "tsv", "columns": ["a"], "delimiter": "|", "listDelimiter": "|"}),
        "delimited-columns",
        f"{FORMAT}.listDelimiter",
    ),
    (
        "kafka value format csv without columns",
        kafka,
        _stream_io("inputFormat", {"type": "kafka", "valueFormat": {"type": "csv", "columns": []}}),
        "delimited-columns",
        f"{IO}.inputFormat.valueFormat.findColumnsFromHeader",
    ),
    # --- dataSchema (DataSchema, DimensionsSpec) ---
    (
        "dataSource with a slash",
        batch,
        _set("spec", "dataSchema", "dataSource", value="wiki/edits"),
        "datasource-name",
        f"{DS}.dataSource",
    ),
    (
        "dimension that is also excluded",
        batch,
        _dimensions(dimensions=["page", "user"], dimensionExclusions=["ts", "user"]),
        "dimension-excluded",
        f"{DS}.dimensionsSpec.dimensionExclusions[1]",
    ),
    (
        "spatial dimension named like a dimension",
        batch,
        _dimensions(dimensions=["page"], spatialDimensions=[{"dimName": "page", "dims": ["x"]}]),
        "duplicate-column",
        f"{DS}.dimensionsSpec.spatialDimensions",
    ),
    (
        "__time as a string dimension",
        batch,
        _dimensions(dimensions=["__time", "page"]),
        "time-column-reserved",
        f"{DS}.dimensionsSpec.dimensions[0]",
    ),
    (
        "__time as a long dimension after another",
        batch,
        _dimensions(dimensions=["page", {"type": "long", "name": "__time"}]),
        "time-column-reserved",
        f"{DS}.dimensionsSpec.dimensions[1]",
    ),
    (
        "metric named __time",
        batch,
        _metrics({"type": "count", "name": "__time"}),
        "time-column-reserved",
        f"{DS}.metricsSpec[0].name",
    ),
    # --- partitioning ---
    (
        "hashed with two names for the row target",
        batch,
        _partitions(
            {"type": "hashed", "targetRowsPerSegment": 9, "maxRowsPerSegment": 9}, rollup=True
        ),
        "partition-row-aliases",
        f"{TS}.partitionsSpec.maxRowsPerSegment",
    ),
    (
        "single_dim with two names for the target",
        batch,
        _partitions(
            {
                "type": "single_dim",
                "partitionDimension": "page",
                "targetRowsPerSegment": 9,
                "targetPartitionSize": 9,
            },
            rollup=True,
        ),
        "partition-row-aliases",
        f"{TS}.partitionsSpec.targetPartitionSize",
    ),
    (
        "hashed with zero shards",
        batch,
        _partitions({"type": "hashed", "numShards": 0}, rollup=True),
        "partition-rows-positive",
        f"{TS}.partitionsSpec.numShards",
    ),
    (
        "range with a zero row target",
        batch,
        _partitions(
            {"type": "range", "partitionDimensions": ["page"], "targetRowsPerSegment": 0},
            rollup=True,
        ),
        "partition-rows-positive",
        f"{TS}.partitionsSpec.targetRowsPerSegment",
    ),
    (
        "deprecated targetPartitionSize next to maxRowsPerSegment",
        batch,
        _rollup(targetPartitionSize=100, maxRowsPerSegment=100),
        "legacy-row-knobs",
        f"{TS}.targetPartitionSize",
    ),
    (
        "deprecated numShards and maxRowsPerSegment under perfect rollup",
        batch,
        _rollup(forceGuaranteedRollup=True, numShards=2, maxRowsPerSegment=100),
        "hashed-shards-or-rows",
        f"{TS}.numShards",
    ),
    (
        "perfect rollup while appending, without a partitionsSpec",
        batch,
        lambda s: (
            _rollup(forceGuaranteedRollup=True)(s),
            _set("spec", "ioConfig", "appendToExisting", value=True)(s),
        ),
        "append-needs-dynamic",
        f"{TS}.forceGuaranteedRollup",
    ),
    # --- streaming ---
    (
        "taskDuration that is not a period",
        kafka,
        _stream_io("taskDuration", "1h"),
        "stream-period",
        f"{IO}.taskDuration",
    ),
    (
        "completionTimeout in months",
        kafka,
        _stream_io("completionTimeout", "P1M"),
        "stream-period",
        f"{IO}.completionTimeout",
    ),
    (
        "offsetFetchPeriod in years",
        kafka,
        _set("spec", "tuningConfig", "offsetFetchPeriod", value="P1Y"),
        "stream-period",
        "$.spec.tuningConfig.offsetFetchPeriod",
    ),
    (
        "an enabled autoscaler without taskCountMax",
        kafka,
        _stream_io("autoScalerConfig", {"enableTaskAutoScaler": True, "taskCountMin": 1}),
        "autoscaler-task-counts",
        f"{IO}.autoScalerConfig.taskCountMax",
    ),
    (
        "an autoscaler whose maximum is below its minimum",
        kafka,
        _stream_io(
            "autoScalerConfig", {"enableTaskAutoScaler": True, "taskCountMin": 4, "taskCountMax": 2}
        ),
        "autoscaler-task-counts",
        f"{IO}.autoScalerConfig.taskCountMax",
    ),
    (
        "an autoscaler starting above its maximum",
        kafka,
        _stream_io(
            "autoScalerConfig",
            {
                "enableTaskAutoScaler": True,
                "taskCountMin": 1,
                "taskCountMax": 10,
                "taskCountStart": 11,
            },
        ),
        "autoscaler-task-counts",
        f"{IO}.autoScalerConfig.taskCountStart",
    ),
    (
        "Kafka consumerProperties with a null bootstrap.servers",
        kafka,
        _stream_io("consumerProperties", {"bootstrap.servers": None}),
        "kafka-bootstrap-servers",
        f"{IO}.consumerProperties",
    ),
]
NEW_RULES = {case[3] for case in CASES}


@pytest.mark.parametrize(
    ("base", "mutate", "rule", "path"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_spec_druid_refuses_is_reported_with_its_rule_and_path(
    base: Callable[..., dict[str, Any]], mutate: Mutation, rule: str, path: str
) -> None:
    spec = base()
    mutate(spec)
    assert [(e.rule, e.path) for e in check_spec(spec)] == [(rule, path)]
    assert rule in RULES


def test_every_rule_has_a_case_here_or_in_test_rules() -> None:
    assert NEW_RULES | {case[3] for case in RULE_CASES} == set(RULES)


def test_every_rule_is_in_the_table_of_docs_validation_md() -> None:
    table = DOCS.read_text()
    assert [name for name in RULES if f"`{name}`" not in table] == []


ACCEPTED: list[tuple[str, Callable[..., dict[str, Any]], Mutation]] = [
    (
        "an empty bootstrap.servers (only null is refused)",
        kafka,
        _stream_io("consumerProperties", {"bootstrap.servers": ""}),
    ),
    (
        "negative retry counts and a zero status period",
        batch,
        _rollup(maxRetry=-1, chatHandlerNumRetries=-1, taskStatusCheckPeriodMs=0),
    ),
    ("zero persist threads (raised to 1)", batch, _rollup(numPersistThreads=0)),
    (
        "a disabled autoscaler with no counts",
        kafka,
        _stream_io("autoScalerConfig", {"enableTaskAutoScaler": False, "taskCountMax": 0}),
    ),
    (
        "a dynamic partitionsSpec with a zero row count",
        batch,
        _partitions({"type": "dynamic", "maxTotalRows": 0}),
    ),
    (
        "a negative skipHeaderRows",
        batch,
        _format({"type": "csv", "columns": ["a"], "skipHeaderRows": -1}),
    ),
    ("csv with the old hasHeaderRow alone", batch, _format({"type": "csv", "hasHeaderRow": True})),
    (
        "a period with months where Druid keeps a Period",
        kafka,
        _set("spec", "tuningConfig", "intermediatePersistPeriod", value="P1M"),
    ),
    ("weeks, days and fractional seconds", kafka, _stream_io("taskDuration", "P1W2DT0.5S")),
    (
        "a long __time dimension first",
        batch,
        _dimensions(dimensions=[{"type": "long", "name": "__time"}, "page"]),
    ),
    (
        "__time as an auto column cast to LONG",
        batch,
        _dimensions(dimensions=[{"type": "auto", "name": "__time", "castToType": "LONG"}]),
    ),
    (
        "a long __time dimension later when time sorting is off",
        batch,
        _dimensions(
            dimensions=["page", {"type": "long", "name": "__time"}], forceSegmentSortByTime=False
        ),
    ),
    (
        "an equals filter on a value",
        batch,
        _filter({"type": "equals", "column": "p", "matchValueType": "STRING", "matchValue": "x"}),
    ),
    (
        "an in filter with an empty values list",
        batch,
        _filter({"type": "in", "dimension": "p", "values": []}),
    ),
    (
        "a hashed row target of -1 next to numShards",
        batch,
        _partitions({"type": "hashed", "numShards": 2, "maxRowsPerSegment": -1}, rollup=True),
    ),
]


@pytest.mark.parametrize(
    ("base", "mutate"), [case[1:] for case in ACCEPTED], ids=[case[0] for case in ACCEPTED]
)
def test_a_spec_druid_accepts_passes(base: Callable[..., dict[str, Any]], mutate: Mutation) -> None:
    spec = base()
    mutate(spec)
    assert check_spec(spec) == []


def test_the_kinesis_recordsPerFetch_is_not_bounded() -> None:
    spec = {
        "type": "kinesis",
        "spec": {
            "dataSchema": {"dataSource": "d"},
            "ioConfig": {"stream": "s", "recordsPerFetch": 0},
        },
    }
    assert check_spec(spec) == []
