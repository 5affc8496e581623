"""`specs.supervisors`: supervisor specs validated into `CompiledSupervisor`s."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from specs.errors import SpecError
from specs.identity import spec_hash
from specs.supervisors import supervisor_from_spec

SPECS = Path(__file__).resolve().parents[1] / "fixtures" / "druid-api" / "specs"
# Invalid as written (see test_corpus.py): a removed parser, Kafka keys on a Kinesis ioConfig.
INVALID = {
    "kafka__quickstart_protobuf_metrics_supervisor.json",
    "kinesis__docs_data_formats_kinesis_input_format.json",
}
SUPERVISORS = sorted(
    p.name for p in SPECS.glob("k*.json") if not p.name.startswith("kill") and p.name not in INVALID
)


def kafka(**top: Any) -> dict[str, Any]:
    return {
        "type": "kafka",
        "spec": {
            "dataSchema": {
                "dataSource": "clicks",
                "timestampSpec": {"column": "ts", "format": "iso"},
                "dimensionsSpec": {"dimensions": ["page"]},
                "granularitySpec": {"segmentGranularity": "HOUR", "queryGranularity": "NONE"},
            },
            "ioConfig": {
                "topic": "clicks",
                "consumerProperties": {"bootstrap.servers": "k:9092"},
                "inputFormat": {"type": "json"},
            },
            "tuningConfig": {"type": "kafka"},
        },
        **top,
    }


def test_the_id_defaults_to_the_datasource_and_is_written_into_the_spec() -> None:
    supervisor = supervisor_from_spec(kafka())
    assert (supervisor.supervisor_id, supervisor.datasource) == ("clicks", "clicks")
    assert supervisor.spec["id"] == "clicks"
    assert supervisor.spec["spec"]["ioConfig"]["topic"] == "clicks"


def test_an_explicit_id_is_kept_and_the_hash_ignores_it() -> None:
    named = supervisor_from_spec(kafka(id="clicks-eu"))
    assert named.supervisor_id == "clicks-eu"
    assert named.spec_hash == supervisor_from_spec(kafka()).spec_hash == spec_hash(kafka())


def test_a_change_to_the_spec_changes_the_hash() -> None:
    changed = kafka()
    changed["spec"]["ioConfig"]["taskCount"] = 2
    assert supervisor_from_spec(changed).spec_hash != supervisor_from_spec(kafka()).spec_hash


def test_the_legacy_flat_form_takes_its_datasource_from_the_top_level_schema() -> None:
    nested = kafka()["spec"]
    flat = {"type": "kafka", **nested}
    assert supervisor_from_spec(flat).datasource == "clicks"


def test_a_task_spec_is_refused_with_the_file_name() -> None:
    task = {"type": "kill", "dataSource": "clicks", "interval": "2024-01-01/2024-01-02"}
    with pytest.raises(SpecError) as caught:
        supervisor_from_spec(task, name="kill.json")
    assert (caught.value.source, caught.value.path) == ("kill.json", "$.type")
    assert caught.value.rule == "supervisor-type"


def test_an_invalid_supervisor_names_path_and_rule() -> None:
    bad = kafka()
    del bad["spec"]["ioConfig"]["consumerProperties"]
    with pytest.raises(SpecError) as caught:
        supervisor_from_spec(bad, name="clicks.json")
    assert caught.value.rule == "kafka-bootstrap-servers"
    assert str(caught.value).startswith("clicks.json: $.spec.ioConfig.consumerProperties")


@pytest.mark.parametrize("name", SUPERVISORS)
def test_every_valid_real_supervisor_spec_is_taken(name: str) -> None:
    spec = json.loads((SPECS / name).read_text())
    supervisor = supervisor_from_spec(spec, name=name)
    assert supervisor.supervisor_id == (spec.get("id") or supervisor.datasource)
    assert {k: v for k, v in supervisor.spec.items() if k != "id"} == {
        k: v for k, v in spec.items() if k != "id"
    }
