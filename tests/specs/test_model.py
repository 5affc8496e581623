"""The spec models: strict core types, extension passthrough, faithful round trips."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from specs.druid.base import EXTENSION_TAG, Extension
from specs.errors import SpecError
from specs.model import (
    IndexParallelTask,
    check_spec,
    decode_spec,
    decode_task,
    encode_spec,
    validate_spec,
)


def base_task() -> dict[str, Any]:
    return {
        "type": "index_parallel",
        "spec": {
            "dataSchema": {
                "dataSource": "wiki",
                "timestampSpec": {"column": "ts", "format": "iso"},
                "dimensionsSpec": {"dimensions": ["page", {"type": "long", "name": "delta"}]},
                "metricsSpec": [{"type": "count", "name": "count"}],
                "granularitySpec": {
                    "segmentGranularity": "DAY",
                    "queryGranularity": "NONE",
                    "intervals": ["2024-01-01/2024-01-02"],
                },
            },
            "ioConfig": {
                "type": "index_parallel",
                "inputSource": {"type": "inline", "data": "{}"},
                "inputFormat": {"type": "json"},
            },
            "tuningConfig": {"type": "index_parallel", "partitionsSpec": {"type": "dynamic"}},
        },
    }


def only_error(spec: dict[str, Any]) -> SpecError:
    errors = check_spec(spec)
    assert len(errors) == 1, errors
    return errors[0]


def test_a_misspelt_field_is_an_error_at_its_own_json_path() -> None:
    spec = base_task()
    granularity = spec["spec"]["dataSchema"]["granularitySpec"]
    granularity["segmentGranularty"] = granularity.pop("segmentGranularity")
    error = only_error(spec)
    assert error.path == "$.spec.dataSchema.granularitySpec.segmentGranularty"
    assert error.rule == "unknown-field"
    assert "did you mean 'segmentGranularity'" in error.detail


def test_a_missing_required_field_is_named_with_its_path() -> None:
    spec = base_task()
    del spec["spec"]["dataSchema"]["dataSource"]
    error = only_error(spec)
    assert (error.path, error.rule) == ("$.spec.dataSchema.dataSource", "missing-field")


def test_a_wrong_value_type_is_an_error_at_its_path() -> None:
    spec = base_task()
    spec["spec"]["tuningConfig"]["maxNumConcurrentSubTasks"] = "four"
    error = only_error(spec)
    assert (error.path, error.rule) == ("$.spec.tuningConfig.maxNumConcurrentSubTasks", "schema")
    assert "Expected `int" in error.detail
    assert "got `str`" in error.detail


def test_a_constraint_violation_is_an_error_at_its_path() -> None:
    spec = base_task()
    spec["spec"]["tuningConfig"]["maxNumConcurrentSubTasks"] = 0
    error = only_error(spec)
    assert error.path == "$.spec.tuningConfig.maxNumConcurrentSubTasks"
    assert ">= 1" in error.detail


def test_an_unknown_task_type_lists_the_types_we_know() -> None:
    error = only_error({"type": "index_hadoop", "spec": {}})
    assert (error.path, error.rule) == ("$.type", "unknown-type")
    assert "index_parallel" in error.detail
    assert "kafka" in error.detail


def test_text_that_is_not_json_is_a_spec_error_not_a_traceback() -> None:
    error = only_error(b"{not json")  # type: ignore[arg-type]
    assert error.rule == "json"


def test_an_extension_aggregator_passes_through_with_every_key() -> None:
    spec = base_task()
    sketch = {"type": "thetaSketch", "name": "users", "fieldName": "user", "size": 16384}
    spec["spec"]["dataSchema"]["metricsSpec"].append(sketch)
    task = validate_spec(spec)
    assert isinstance(task, IndexParallelTask)
    metrics = task.spec.data_schema.metrics_spec
    assert isinstance(metrics, list)
    assert metrics[-1] == Extension(raw=sketch)
    assert encode_spec(task) == spec


@pytest.mark.parametrize(
    ("where", "extension"),
    [
        (("spec", "ioConfig", "inputSource"), {"type": "delta", "tablePath": "/x"}),
        (("spec", "ioConfig", "inputFormat"), {"type": "iceberg_magic", "x": [1, {"y": 2}]}),
        (("spec", "dataSchema", "transformSpec"), {"filter": {"type": "myFilter", "k": "v"}}),
    ],
)
def test_extension_input_sources_formats_and_filters_pass_through(
    where: tuple[str, ...], extension: dict[str, Any]
) -> None:
    spec = base_task()
    node = spec
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = extension
    assert encode_spec(validate_spec(spec)) == spec


def test_errors_keep_their_paths_next_to_and_inside_extension_objects() -> None:
    spec = base_task()
    spec["spec"]["dataSchema"]["metricsSpec"] = [
        {"type": "HLLSketchBuild", "name": "hll", "fieldName": "user"},
        {"type": "longSum", "name": "added", "fieldNme": "added"},
    ]
    spec["spec"]["ioConfig"]["inputSource"] = {
        "type": "combining",
        "delegates": [
            {"type": "someCloud", "bucket": "b"},
            {"type": "local", "baseDir": "/d", "filters": "*.json"},
        ],
    }
    error = check_spec(spec)[0]
    assert error.path == "$.spec.dataSchema.metricsSpec[1].fieldNme"
    del spec["spec"]["dataSchema"]["metricsSpec"][1]["fieldNme"]
    error = check_spec(spec)[0]
    assert error.path == "$.spec.ioConfig.inputSource.delegates[1].filters"
    assert error.rule == "unknown-field"


def test_a_known_type_in_the_wrong_letter_case_is_a_typo_not_an_extension() -> None:
    spec = base_task()
    spec["spec"]["dataSchema"]["metricsSpec"] = [{"type": "longsum", "name": "a", "fieldName": "a"}]
    error = only_error(spec)
    assert (error.path, error.rule) == ("$.spec.dataSchema.metricsSpec[0].type", "type-name-case")
    assert "'longSum'" in error.detail


def test_the_extension_wrapper_tag_never_reaches_the_encoded_spec() -> None:
    spec = base_task()
    spec["spec"]["dataSchema"]["metricsSpec"] = [{"type": "custom", "name": "c", "nested": {}}]
    assert EXTENSION_TAG not in str(encode_spec(validate_spec(spec)))


def test_keys_holding_druid_defaults_and_nulls_are_kept_and_absent_keys_are_not_added() -> None:
    spec = base_task()
    schema = spec["spec"]["dataSchema"]
    schema["timestampSpec"]["missingValue"] = None
    schema["granularitySpec"]["rollup"] = True  # Druid's default
    schema["transformSpec"] = {"filter": None, "transforms": []}
    spec["spec"]["ioConfig"]["appendToExisting"] = False  # Druid's default
    spec["context"] = None
    assert encode_spec(validate_spec(spec)) == spec
    assert encode_spec(validate_spec(base_task())) == base_task()


def test_validating_does_not_change_the_input_it_was_given() -> None:
    spec = base_task()
    spec["spec"]["dataSchema"]["metricsSpec"].append({"type": "ext", "name": "e"})
    before = copy.deepcopy(spec)
    validate_spec(spec)
    assert spec == before


def test_decode_task_refuses_a_valid_spec_of_another_type() -> None:
    with pytest.raises(SpecError) as caught:
        decode_task({"type": "kill", "dataSource": "wiki", "interval": "2024-01-01/P1D"})
    assert (caught.value.rule, caught.value.path) == ("task-type", "$.type")


def test_decode_spec_checks_the_schema_but_not_the_rules() -> None:
    spec = base_task()
    spec["spec"]["tuningConfig"]["forceGuaranteedRollup"] = True
    assert isinstance(decode_spec(spec), IndexParallelTask)
    with pytest.raises(SpecError) as caught:
        validate_spec(spec)
    assert caught.value.rule == "dynamic-needs-best-effort-rollup"


def test_a_spec_error_reads_file_path_message_and_rule() -> None:
    error = SpecError("bad thing", path="$.a.b", rule="some-rule").with_source("x.json")
    assert str(error) == "x.json: $.a.b: bad thing [some-rule]"
