"""Every real spec of the Druid corpus is a test case.

Valid ones decode and re-encode to JSON equal to the original (same keys, same values: nothing
dropped, nothing added). The ones MANIFEST.md marks INVALID AS WRITTEN or LEGACY are rejected
with the rule and the JSON path that explain why.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from specs.model import (
    UNSET,
    DataSchema,
    IndexParallelTask,
    KafkaSupervisor,
    KillTask,
    check_spec,
    decode_spec,
    encode_spec,
    validate_spec,
)

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "druid-api"
SPECS = CORPUS / "specs"
MANIFEST = (SPECS / "MANIFEST.md").read_text()

# file -> (rule, path) of the first error; these are the files MANIFEST.md marks.
MARKED_INVALID = {
    "index__docs_firehose_migration_single_dim.json": (
        "partitions-need-perfect-rollup",
        "$.spec.tuningConfig.forceGuaranteedRollup",
    ),
    "index__docs_simple_task_hashed.json": (
        "partitions-need-perfect-rollup",
        "$.spec.tuningConfig.forceGuaranteedRollup",
    ),
    "index_parallel__docs_native_batch_single_dim.json": (
        "partitions-need-perfect-rollup",
        "$.spec.tuningConfig.forceGuaranteedRollup",
    ),
    "kafka__quickstart_protobuf_metrics_supervisor.json": ("parser-removed", "$.dataSchema.parser"),
}
# Not marked by MANIFEST.md, but Druid cannot accept it either: a Kinesis supervisor written
# with Kafka's ioConfig keys (consumerProperties, topic) and no `stream`, which the Kinesis
# ioConfig requires.
FOUND_INVALID = {
    "kinesis__docs_data_formats_kinesis_input_format.json": (
        "unknown-field",
        "$.spec.ioConfig.consumerProperties",
    ),
}
ALL_FILES = sorted(p.name for p in SPECS.glob("*.json"))
VALID_FILES = [name for name in ALL_FILES if name not in MARKED_INVALID | FOUND_INVALID]


def _manifest_marked() -> set[str]:
    marked = set()
    for line in MANIFEST.splitlines():
        row = re.match(r"^\| `(?P<file>[^`]+\.json)` \|", line)
        if row and ("INVALID AS WRITTEN" in line or "LEGACY" in line):
            marked.add(row["file"])
    return marked


def _load(name: str) -> Any:
    return json.loads((SPECS / name).read_text())


def test_the_corpus_holds_all_58_specs_named_in_the_manifest() -> None:
    named = set(re.findall(r"^\| `([^`]+\.json)` \|", MANIFEST, flags=re.MULTILINE))
    assert len(ALL_FILES) == 58
    assert named == set(ALL_FILES)


def test_the_expected_rejections_are_exactly_the_files_the_manifest_marks() -> None:
    assert _manifest_marked() == set(MARKED_INVALID)


@pytest.mark.parametrize("name", VALID_FILES)
def test_a_valid_corpus_spec_round_trips_to_the_same_json(name: str) -> None:
    original = _load(name)
    assert check_spec(original) == []
    assert encode_spec(validate_spec((SPECS / name).read_bytes())) == original


@pytest.mark.parametrize("name", sorted(MARKED_INVALID | FOUND_INVALID))
def test_an_invalid_corpus_spec_is_rejected_naming_its_rule_and_path(name: str) -> None:
    rule, path = (MARKED_INVALID | FOUND_INVALID)[name]
    errors = check_spec((SPECS / name).read_bytes())
    assert errors, f"{name} was accepted"
    assert (errors[0].rule, errors[0].path) == (rule, path)
    assert path in str(errors[0])
    assert rule in str(errors[0])


def test_the_firehose_migration_example_breaks_two_rules_and_both_are_reported() -> None:
    errors = check_spec(_load("index__docs_firehose_migration_single_dim.json"))
    assert [(e.rule, e.path) for e in errors] == [
        ("partitions-need-perfect-rollup", "$.spec.tuningConfig.forceGuaranteedRollup"),
        ("index-partitions", "$.spec.tuningConfig.partitionsSpec.type"),
    ]


def test_the_native_batch_single_dim_example_becomes_valid_with_perfect_rollup() -> None:
    spec = _load("index_parallel__docs_native_batch_single_dim.json")
    spec["spec"]["tuningConfig"]["forceGuaranteedRollup"] = True
    assert isinstance(validate_spec(spec), IndexParallelTask)
    assert encode_spec(validate_spec(spec)) == spec


def test_specs_decode_to_the_model_of_their_type() -> None:
    assert isinstance(decode_spec(_load("kill__quickstart_deletion_kill.json")), KillTask)
    flat = decode_spec(_load("kafka__it_legacy_flat_form_template.json"))
    assert isinstance(flat, KafkaSupervisor)
    assert flat.spec is UNSET
    assert isinstance(flat.data_schema, DataSchema)
    nested = decode_spec(_load("kafka__quickstart_wikipedia_supervisor.json"))
    assert isinstance(nested, KafkaSupervisor)
    assert nested.data_schema is UNSET
    assert nested.spec is not UNSET


def test_a_task_payload_read_back_from_druid_validates_and_round_trips() -> None:
    response = json.loads((CORPUS / "responses" / "task_payload_200.json").read_text())
    payload = response["payload"]
    assert encode_spec(validate_spec(payload)) == payload


def test_a_kafka_spec_with_a_bounded_stream_config_validates_and_round_trips() -> None:
    # REFERENCE §9.1 lists boundedStreamConfig among the streaming ioConfig keys.
    spec = _load("kafka__quickstart_wikipedia_supervisor.json")
    # Its contents are Druid's to check; the model passes them through untouched.
    spec["spec"]["ioConfig"]["boundedStreamConfig"] = {"opaque": {"to": ["us"]}}
    assert check_spec(spec) == []
    assert encode_spec(validate_spec(spec)) == spec
