"""`[pipeline.stream]`: a template's Kafka or Kinesis supervisor, its secrets and its errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from specs.compiler import compile_job, load_template
from specs.errors import SpecError
from specs.intervals import Interval
from specs.model import KafkaSupervisor, KinesisSupervisor, validate_spec
from specs.supervisors import compile_supervisor

SECRET = "s3cr3t-Value-never-shown"

BASE = """
[pipeline]
name = "clicks-daily"
datasource = "clicks"
chunk = "DAY"
segment_granularity = "HOUR"
query_granularity = "MINUTE"
rollup = true
timestamp_column = "ts"
timestamp_format = "iso"
dimensions = ["page", { type = "long", name = "delta" }]
metrics = [{ type = "count", name = "clicks" }]
transforms = [{ type = "expression", name = "page", expression = "lower(page)" }]
filter = { type = "not", field = { type = "null", column = "page" } }

[pipeline.input]
type = "http"
uris = ["https://example.com/{date}.json"]

[pipeline.format]
type = "json"
"""

KAFKA = """
[pipeline.stream]
type = "kafka"
topic = "clicks"
consumer_properties = { "bootstrap.servers" = "kafka:9092" }
task_count = 2
replicas = 2
task_duration = "PT1H"
start_delay = "PT5S"
use_earliest_offset = true
late_message_rejection_period = "PT6H"
early_message_rejection_period = "PT1H"
tuning = { maxRowsInMemory = 100000 }
"""

KINESIS = """
[pipeline.stream]
type = "kinesis"
stream = "clicks-stream"
endpoint = "kinesis.eu-west-1.amazonaws.com"
use_earliest_offset = false
late_message_rejection_start = "2024-01-01T00:00:00Z"
format = { type = "csv", findColumnsFromHeader = true }
supervisor_id = "clicks-kinesis"
"""


def batch_schema(text: str) -> dict[str, Any]:
    template = load_template("t.toml", text=text)
    job = compile_job(template, Interval.parse("2024-01-01T00/2024-01-01T01"))
    schema: dict[str, Any] = job.spec["spec"]["dataSchema"]
    del schema["granularitySpec"]["intervals"]
    return schema


def test_a_kafka_stream_compiles_to_a_valid_supervisor_with_the_batch_data_schema() -> None:
    supervisor = compile_supervisor(load_template("t.toml", text=BASE + KAFKA))
    spec = supervisor.spec
    assert isinstance(validate_spec(spec), KafkaSupervisor)
    assert (supervisor.supervisor_id, supervisor.datasource, spec["id"]) == ("clicks",) * 3
    assert spec["spec"]["dataSchema"] == batch_schema(BASE + KAFKA)
    assert spec["spec"]["ioConfig"] == {
        "type": "kafka",
        "topic": "clicks",
        "consumerProperties": {"bootstrap.servers": "kafka:9092"},
        "inputFormat": {"type": "json"},
        "taskCount": 2,
        "replicas": 2,
        "taskDuration": "PT1H",
        "startDelay": "PT5S",
        "useEarliestOffset": True,
        "lateMessageRejectionPeriod": "PT6H",
        "earlyMessageRejectionPeriod": "PT1H",
    }
    assert spec["spec"]["tuningConfig"] == {"type": "kafka", "maxRowsInMemory": 100000}


def test_a_kinesis_stream_compiles_with_its_own_keys_format_and_id() -> None:
    supervisor = compile_supervisor(load_template("t.toml", text=BASE + KINESIS))
    spec = supervisor.spec
    assert isinstance(validate_spec(spec), KinesisSupervisor)
    assert supervisor.supervisor_id == spec["id"] == "clicks-kinesis"
    assert spec["spec"]["dataSchema"] == batch_schema(BASE + KINESIS)
    io = spec["spec"]["ioConfig"]
    assert io["stream"] == "clicks-stream"
    assert io["endpoint"] == "kinesis.eu-west-1.amazonaws.com"
    assert io["useEarliestSequenceNumber"] is False
    assert io["lateMessageRejectionStartDateTime"] == "2024-01-01T00:00:00Z"
    assert io["inputFormat"] == {"type": "csv", "findColumnsFromHeader": True}
    assert spec["spec"]["tuningConfig"] == {"type": "kinesis"}


def test_a_topic_pattern_replaces_the_topic() -> None:
    text = BASE + KAFKA.replace('topic = "clicks"', 'topic_pattern = "clicks-.*"')
    io = compile_supervisor(load_template("t.toml", text=text)).spec["spec"]["ioConfig"]
    assert io["topicPattern"] == "clicks-.*"
    assert "topic" not in io


def test_batch_jobs_of_a_template_with_a_stream_wait_for_its_supervisor() -> None:
    interval = Interval.parse("2024-01-01T00/2024-01-01T01")
    kafka = load_template("t.toml", text=BASE + KAFKA)
    kinesis = load_template("t.toml", text=BASE + KINESIS)
    assert compile_job(kafka, interval).watermark_from == "clicks"
    assert compile_job(kinesis, interval).watermark_from == "clicks-kinesis"
    assert compile_job(load_template("t.toml", text=BASE), interval).watermark_from is None


def test_watermark_from_names_another_supervisor_and_leaves_the_spec_alone() -> None:
    interval = Interval.parse("2024-01-01T00/2024-01-01T01")
    plain = compile_job(load_template("t.toml", text=BASE), interval)
    text = BASE.replace('chunk = "DAY"', 'chunk = "DAY"\nwatermark_from = "clicks-eu"')
    gated = compile_job(load_template("t.toml", text=text), interval)
    assert gated.watermark_from == "clicks-eu"
    assert (gated.job_id, gated.spec_hash) == (plain.job_id, plain.spec_hash)


def test_a_template_without_a_stream_has_no_supervisor() -> None:
    with pytest.raises(SpecError) as caught:
        compile_supervisor(load_template("t.toml", text=BASE))
    assert (caught.value.path, caught.value.rule) == ("$.pipeline.stream", "no-stream")


# --- secrets -----------------------------------------------------------------------------


def with_secret(value: str) -> str:
    return BASE + KAFKA.replace(
        '"bootstrap.servers" = "kafka:9092"',
        f'"bootstrap.servers" = "kafka:9092", "sasl.jaas.config" = {value}',
    )


def properties(text: str) -> dict[str, Any]:
    spec = compile_supervisor(load_template("t.toml", text=text)).spec
    result: dict[str, Any] = spec["spec"]["ioConfig"]["consumerProperties"]
    return result


def test_a_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKS_JAAS", SECRET)
    assert properties(with_secret('{ env = "CLICKS_JAAS" }'))["sasl.jaas.config"] == SECRET


def test_a_secret_file_loses_its_trailing_newline_only(tmp_path: Path) -> None:
    secret = tmp_path / "jaas"
    secret.write_text(f" {SECRET}\n")
    got = properties(with_secret(f'{{ file = "{secret}" }}'))["sasl.jaas.config"]
    assert got == f" {SECRET}"


def test_secrets_are_masked_when_not_revealed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKS_JAAS", SECRET)
    template = load_template("t.toml", text=with_secret('{ env = "CLICKS_JAAS" }'))
    masked = compile_supervisor(template, reveal_secrets=False)
    assert SECRET.encode() not in bytes(masked.spec_json)
    props = masked.spec["spec"]["ioConfig"]["consumerProperties"]
    assert props["sasl.jaas.config"] == "<secret from env CLICKS_JAAS>"
    assert masked.spec_hash != compile_supervisor(template).spec_hash


def test_a_template_loads_without_its_secrets_and_fails_to_compile_naming_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CLICKS_JAAS", raising=False)
    template = load_template("t.toml", text=with_secret('{ env = "CLICKS_JAAS" }'))
    with pytest.raises(SpecError) as caught:
        compile_supervisor(template)
    error = caught.value
    assert error.rule == "secret-missing"
    assert error.path == '$.pipeline.stream.consumer_properties["sasl.jaas.config"]'
    assert "CLICKS_JAAS" in str(error)


def test_an_empty_variable_is_refused_without_showing_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLICKS_JAAS", "")
    template = load_template("t.toml", text=with_secret('{ env = "CLICKS_JAAS" }'))
    with pytest.raises(SpecError) as caught:
        compile_supervisor(template)
    assert caught.value.rule == "secret-empty"


def test_an_unreadable_secret_file_names_the_key_and_file_never_the_value(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nowhere"
    template = load_template("t.toml", text=with_secret(f'{{ file = "{missing}" }}'))
    with pytest.raises(SpecError) as caught:
        compile_supervisor(template)
    assert caught.value.rule == "secret-unreadable"
    assert "sasl.jaas.config" in str(caught.value)
    assert str(missing) in str(caught.value)
    assert caught.value.__cause__ is None


def test_a_secret_file_that_is_not_text_is_refused_without_its_bytes(tmp_path: Path) -> None:
    secret = tmp_path / "jaas"
    secret.write_bytes(b"\xff\xfe" + SECRET.encode())
    template = load_template("t.toml", text=with_secret(f'{{ file = "{secret}" }}'))
    with pytest.raises(SpecError) as caught:
        compile_supervisor(template)
    assert caught.value.rule == "secret-unreadable"
    assert "not UTF-8" in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_secret_is_never_in_the_message_of_a_later_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLICKS_JAAS", SECRET)
    text = with_secret('{ env = "CLICKS_JAAS" }').replace("task_count = 2", "")
    text = text.replace("tuning = { maxRowsInMemory = 100000 }", "tuning = { maxRowsInMemory = 0 }")
    with pytest.raises(SpecError) as caught:
        compile_supervisor(load_template("t.toml", text=text.replace("rollup = true", "")))
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.__cause__)


def test_druid_providers_pass_through_untouched() -> None:
    provider = {"type": "environment", "variables": {"sasl.jaas.config": "KAFKA_JAAS"}}
    text = BASE + KAFKA.replace(
        '"bootstrap.servers" = "kafka:9092"',
        '"bootstrap.servers" = "kafka:9092", "druid.dynamic.config.provider" = '
        '{ type = "environment", variables = { "sasl.jaas.config" = "KAFKA_JAAS" } }, '
        '"ssl.key.password" = { type = "environment", variable = "KEY_PW" }',
    )
    got = properties(text)
    assert got["druid.dynamic.config.provider"] == provider
    assert got["ssl.key.password"] == {"type": "environment", "variable": "KEY_PW"}


# --- bad keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "path", "rule"),
    [
        (KAFKA.replace("task_count = 2", "task_cuont = 2"), "stream.task_cuont", "unknown-field"),
        (KAFKA.replace('type = "kafka"', 'type = "pulsar"'), "stream.type", "schema"),
        (KAFKA.replace('topic = "clicks"', ""), "stream.topic", "kafka-topic"),
        (
            KAFKA.replace('topic = "clicks"', 'topic = "a"\ntopic_pattern = "b"'),
            "stream.topic",
            "kafka-topic",
        ),
        (
            KAFKA.replace('"bootstrap.servers" = "kafka:9092"', '"group.id" = "x"'),
            "stream.consumer_properties",
            "kafka-bootstrap-servers",
        ),
        (
            KAFKA.replace('"kafka:9092"', '{ env = "" }'),
            'stream.consumer_properties["bootstrap.servers"]',
            "consumer-property",
        ),
        (
            KAFKA.replace('"kafka:9092"', '{ vault = "x" }'),
            'stream.consumer_properties["bootstrap.servers"]',
            "consumer-property",
        ),
        (KAFKA + 'stream = "s"\n', "stream.stream", "stream-key"),
        (KINESIS.replace('stream = "clicks-stream"', ""), "stream.stream", "kinesis-needs-stream"),
        (KINESIS + 'topic = "t"\n', "stream.topic", "stream-key"),
        (KAFKA.replace('"PT1H"\nstart', '"1 hour"\nstart'), "stream.task_duration", "period"),
        (
            KAFKA + 'late_message_rejection_start = "2024-01-01"\n',
            "stream.late_message_rejection_start",
            "late-rejection-exclusive",
        ),
        (
            KINESIS.replace('"2024-01-01T00:00:00Z"', '"yesterday"'),
            "stream.late_message_rejection_start",
            "instant",
        ),
        (
            KAFKA.replace("maxRowsInMemory = 100000", 'type = "index"'),
            "stream.tuning.type",
            "template-tuning-key",
        ),
        (
            KAFKA.replace("maxRowsInMemory = 100000", "maxRowsInMemory = 0"),
            "stream.tuning.maxRowsInMemory",
            "schema",
        ),
        (
            KAFKA.replace("maxRowsInMemory = 100000", "maxRowsInMemroy = 1"),
            "stream.tuning.maxRowsInMemroy",
            "unknown-field",
        ),
        (KAFKA + 'supervisor_id = "a/b"\n', "stream.supervisor_id", "task-id"),
        (
            KAFKA + 'format = { type = "json", flattenSpec = 3 }\n',
            "stream.format.flattenSpec",
            "schema",
        ),
        (
            KAFKA.replace("task_count = 2", "task_count = 0"),
            "stream.task_count",
            "schema",
        ),
    ],
)
def test_every_bad_stream_key_names_the_file_its_template_path_and_the_rule(
    tmp_path: Path, stream: str, path: str, rule: str
) -> None:
    source = tmp_path / "clicks.toml"
    source.write_text(BASE + stream)
    with pytest.raises(SpecError) as caught:
        load_template(source)
    error = caught.value
    assert (error.source, error.path, error.rule) == (str(source), f"$.pipeline.{path}", rule)
    assert str(error).startswith(f"{source}: $.pipeline.{path}")


def test_a_stream_needs_a_format_of_its_own_or_the_templates(tmp_path: Path) -> None:
    source = tmp_path / "clicks.toml"
    batch_format = '[pipeline.format]\ntype = "json"\n'
    source.write_text(BASE.replace(batch_format, "") + KAFKA)
    with pytest.raises(SpecError) as caught:
        load_template(source)
    assert (caught.value.path, caught.value.rule) == ("$.pipeline.stream.format", "stream-format")
    source.write_text(BASE.replace(batch_format, "") + KAFKA + 'format = { type = "json" }\n')
    assert compile_supervisor(load_template(source)).spec["spec"]["ioConfig"]["inputFormat"] == {
        "type": "json"
    }


def test_watermark_from_must_not_contradict_the_stream(tmp_path: Path) -> None:
    source = tmp_path / "clicks.toml"
    text = (BASE + KAFKA).replace('chunk = "DAY"', 'chunk = "DAY"\nwatermark_from = "other"')
    source.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_template(source)
    assert (caught.value.path, caught.value.rule) == ("$.pipeline.watermark_from", "watermark-from")


def test_a_template_decoded_without_loading_is_checked_when_compiled() -> None:
    template = load_template("t.toml", text=BASE + KAFKA)
    assert template.stream is not None
    bad = {"bootstrap.servers": "k:9092", "a": {"vault": "x"}}
    stream = msgspec.structs.replace(template.stream, consumer_properties=bad)
    with pytest.raises(SpecError) as caught:
        compile_supervisor(msgspec.structs.replace(template, stream=stream))
    assert (caught.value.path, caught.value.rule) == (
        '$.pipeline.stream.consumer_properties["a"]',
        "consumer-property",
    )
