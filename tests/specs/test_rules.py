"""Druid's cross-field rules: each one, broken on its own, is reported with its rule and path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from specs.model import RULES, check_spec


def batch(kind: str = "index_parallel") -> dict[str, Any]:
    return {
        "type": kind,
        "spec": {
            "dataSchema": {
                "dataSource": "wiki",
                "timestampSpec": {"column": "ts"},
                "dimensionsSpec": {"dimensions": ["page", "user"]},
                "metricsSpec": [{"type": "count", "name": "count"}],
                "granularitySpec": {
                    "segmentGranularity": "DAY",
                    "intervals": ["2024-01-01/2024-01-02"],
                },
            },
            "ioConfig": {"type": kind, "inputSource": {"type": "inline", "data": "{}"}},
            "tuningConfig": {"type": kind, "maxNumConcurrentSubTasks": 4}
            if kind == "index_parallel"
            else {"type": kind},
        },
    }


def kafka() -> dict[str, Any]:
    return {
        "type": "kafka",
        "spec": {
            "dataSchema": {"dataSource": "events", "timestampSpec": {"column": "ts"}},
            "ioConfig": {
                "type": "kafka",
                "topic": "events",
                "consumerProperties": {"bootstrap.servers": "k:9092"},
                "lateMessageRejectionPeriod": "PT1H",
            },
            "tuningConfig": {"type": "kafka"},
        },
    }


def tuning(spec: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = spec["spec"]["tuningConfig"]
    return result


Mutation = Callable[[dict[str, Any]], object]


def _partitions(partitions: dict[str, Any], rollup: bool | None = None) -> Mutation:
    def apply(spec: dict[str, Any]) -> None:
        tuning(spec)["partitionsSpec"] = partitions
        if rollup is not None:
            tuning(spec)["forceGuaranteedRollup"] = rollup

    return apply


def _set(*path: str, value: Any) -> Mutation:
    def apply(spec: dict[str, Any]) -> None:
        node = spec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return apply


def _delete(*path: str) -> Mutation:
    def apply(spec: dict[str, Any]) -> None:
        node = spec
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return apply


TS = "$.spec.tuningConfig"
DS = "$.spec.dataSchema"
IO = "$.spec.ioConfig"
CASES: list[tuple[str, Callable[..., dict[str, Any]], Mutation, str, str]] = [
    (
        "parser",
        batch,
        _set("spec", "dataSchema", "parser", value={"type": "string"}),
        "parser-removed",
        f"{DS}.parser",
    ),
    (
        "hashed without rollup",
        batch,
        _partitions({"type": "hashed", "numShards": 2}),
        "partitions-need-perfect-rollup",
        f"{TS}.forceGuaranteedRollup",
    ),
    (
        "dynamic with rollup",
        batch,
        _partitions({"type": "dynamic"}, rollup=True),
        "dynamic-needs-best-effort-rollup",
        f"{TS}.partitionsSpec",
    ),
    (
        "index with range",
        lambda: batch("index"),
        _partitions(
            {"type": "range", "partitionDimensions": ["a"], "targetRowsPerSegment": 9}, rollup=True
        ),
        "index-partitions",
        f"{TS}.partitionsSpec.type",
    ),
    (
        "range in sequential mode",
        batch,
        lambda s: (
            _partitions(
                {"type": "range", "partitionDimensions": ["a"], "maxRowsPerSegment": 9}, rollup=True
            )(s),
            tuning(s).pop("maxNumConcurrentSubTasks"),
        ),
        "range-not-sequential",
        f"{TS}.maxNumConcurrentSubTasks",
    ),
    (
        "single_dim without its dimension",
        batch,
        _partitions({"type": "single_dim", "targetRowsPerSegment": 9}, rollup=True),
        "range-needs-dimensions",
        f"{TS}.partitionsSpec.partitionDimension",
    ),
    (
        "range without a row target",
        batch,
        _partitions({"type": "range", "partitionDimensions": ["a"]}, rollup=True),
        "range-row-target",
        f"{TS}.partitionsSpec.targetRowsPerSegment",
    ),
    (
        "hashed with shards and rows",
        batch,
        _partitions({"type": "hashed", "numShards": 2, "targetRowsPerSegment": 9}, rollup=True),
        "hashed-shards-or-rows",
        f"{TS}.partitionsSpec.numShards",
    ),
    (
        "both sub-task knobs",
        batch,
        _set("spec", "tuningConfig", "maxNumSubTasks", value=2),
        "sub-task-knobs-exclusive",
        f"{TS}.maxNumSubTasks",
    ),
    (
        "append with hashed",
        batch,
        lambda s: (
            _partitions({"type": "hashed"}, rollup=True)(s),
            _set("spec", "ioConfig", "appendToExisting", value=True)(s),
        ),
        "append-needs-dynamic",
        f"{TS}.partitionsSpec",
    ),
    (
        "replace without intervals",
        batch,
        lambda s: (
            _set("spec", "ioConfig", "dropExisting", value=True)(s),
            _delete("spec", "dataSchema", "granularitySpec", "intervals")(s),
        ),
        "replace-needs-intervals",
        f"{DS}.granularitySpec.intervals",
    ),
    (
        "ioConfig of another task type",
        batch,
        _set("spec", "ioConfig", "type", value="index"),
        "inner-type-matches-task",
        f"{IO}.type",
    ),
    (
        "tuningConfig of another task type",
        batch,
        _set("spec", "tuningConfig", "type", value="index"),
        "inner-type-matches-task",
        f"{TS}.type",
    ),
    (
        "top-level dataSource differs",
        batch,
        _set("dataSource", value="other"),
        "task-datasource-matches",
        "$.dataSource",
    ),
    (
        "a dimension and a metric share a name",
        batch,
        _set("spec", "dataSchema", "metricsSpec", value=[{"type": "count", "name": "page"}]),
        "duplicate-column",
        f"{DS}.metricsSpec",
    ),
    (
        "unknown granularity",
        batch,
        _set("spec", "dataSchema", "granularitySpec", "segmentGranularity", value="DAILY"),
        "granularity-name",
        f"{DS}.granularitySpec.segmentGranularity",
    ),
    (
        "open interval",
        batch,
        _set("spec", "dataSchema", "granularitySpec", "intervals", value=["2024-01-01/"]),
        "interval-syntax",
        f"{DS}.granularitySpec.intervals[0]",
    ),
    (
        "reversed interval",
        batch,
        _set("spec", "dataSchema", "granularitySpec", "intervals", value=["2024-01-02/2024-01-01"]),
        "interval-syntax",
        f"{DS}.granularitySpec.intervals[0]",
    ),
    ("id with a slash", batch, _set("id", value="bad/id"), "task-id", "$.id"),
    (
        "compact without input",
        lambda: {"type": "compact", "dataSource": "wiki"},
        lambda s: None,
        "compact-needs-input",
        "$.ioConfig",
    ),
    (
        "supervisor without spec",
        lambda: {"type": "kafka"},
        lambda s: None,
        "supervisor-form",
        "$.spec",
    ),
    (
        "flat and nested forms disagree",
        kafka,
        _set(
            "ioConfig", value={"topic": "other", "consumerProperties": {"bootstrap.servers": "k"}}
        ),
        "supervisor-forms-agree",
        "$.ioConfig",
    ),
    (
        "Kafka with topic and topicPattern",
        kafka,
        _set("spec", "ioConfig", "topicPattern", value="ev.*"),
        "kafka-topic",
        f"{IO}.topic",
    ),
    (
        "Kafka without brokers",
        kafka,
        _set("spec", "ioConfig", "consumerProperties", value={}),
        "kafka-bootstrap-servers",
        f"{IO}.consumerProperties",
    ),
    (
        "Kinesis without stream",
        lambda: {"type": "kinesis", "spec": {"dataSchema": {"dataSource": "d"}, "ioConfig": {}}},
        lambda s: None,
        "kinesis-needs-stream",
        f"{IO}.stream",
    ),
    (
        "both late rejection settings",
        kafka,
        _set("spec", "ioConfig", "lateMessageRejectionStartDateTime", value="2024-01-01"),
        "late-rejection-exclusive",
        f"{IO}.lateMessageRejectionStartDateTime",
    ),
]


@pytest.mark.parametrize(
    ("base", "mutate", "rule", "path"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_breaking_one_rule_reports_that_rule_at_its_path(
    base: Callable[..., dict[str, Any]], mutate: Mutation, rule: str, path: str
) -> None:
    spec = base()
    mutate(spec)
    errors = check_spec(spec)
    assert [(e.rule, e.path) for e in errors] == [(rule, path)]
    assert rule in RULES


def test_every_rule_here_is_a_known_rule() -> None:
    # Together with tests/specs/test_preconditions.py, every rule has a case.
    assert {case[3] for case in CASES} <= set(RULES)


def test_the_base_specs_used_above_are_valid() -> None:
    assert check_spec(batch()) == []
    assert check_spec(batch("index")) == []
    assert check_spec(kafka()) == []


def test_several_broken_rules_are_all_reported_in_document_order() -> None:
    spec = batch()
    spec["spec"]["dataSchema"]["parser"] = {"type": "x"}
    spec["spec"]["ioConfig"]["type"] = "index"
    tuning(spec)["partitionsSpec"] = {"type": "hashed"}
    assert [e.rule for e in check_spec(spec)] == [
        "parser-removed",
        "inner-type-matches-task",
        "partitions-need-perfect-rollup",
    ]


def test_a_perfect_rollup_spec_without_partitions_spec_is_left_to_druid_defaults() -> None:
    spec = batch()
    tuning(spec)["forceGuaranteedRollup"] = True
    assert check_spec(spec) == []


def test_minus_one_means_unset_for_druid_row_counts() -> None:
    spec = batch()
    tuning(spec)["forceGuaranteedRollup"] = True
    tuning(spec)["partitionsSpec"] = {"type": "hashed", "numShards": 3, "targetRowsPerSegment": -1}
    assert check_spec(spec) == []
