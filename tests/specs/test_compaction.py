"""`[pipeline.compaction]` and `compile_compaction`: valid, deterministic `compact` tasks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from specs.compaction import (
    DatasourceCompaction,
    compile_compaction,
    compile_datasource_compaction,
)
from specs.compiler import compile_range, load_template
from specs.errors import SpecError
from specs.intervals import Interval
from specs.model import CompactTask, validate_spec

BASE = """
[pipeline]
name = "clicks-daily"
datasource = "clicks"
task_id_prefix = "orch"
chunk = "DAY"
segment_granularity = "HOUR"
query_granularity = "MINUTE"
rollup = true
max_attempts = 4
max_sub_tasks = 3
timestamp_column = "ts"
dimensions = ["page"]

[pipeline.input]
type = "http"
uris = ["https://example.com/{date}.json"]

[pipeline.format]
type = "json"
"""

COMPACTION = """
[pipeline.compaction]
max_rows_per_segment = 3000000
max_total_rows = 20000000
tuning = { maxRowsInMemory = 50000 }
context = { priority = 10 }
"""

TWO_DAYS = Interval.parse("2024-01-01/2024-01-03")


def test_one_valid_compact_task_per_chunk_from_the_template() -> None:
    template = load_template("t.toml", text=BASE + COMPACTION)
    jobs = compile_compaction(template, TWO_DAYS)
    assert [job.interval for job in jobs] == [
        "2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z",
        "2024-01-02T00:00:00.000Z/2024-01-03T00:00:00.000Z",
    ]
    first = jobs[0]
    assert isinstance(validate_spec(first.spec), CompactTask)
    assert first.spec == {
        "type": "compact",
        "dataSource": "clicks",
        "ioConfig": {
            "type": "compact",
            "inputSpec": {"type": "interval", "interval": first.interval},
        },
        "granularitySpec": {
            "segmentGranularity": "HOUR",
            "queryGranularity": "MINUTE",
            "rollup": True,
        },
        "tuningConfig": {
            "type": "index_parallel",
            "partitionsSpec": {
                "type": "dynamic",
                "maxRowsPerSegment": 3000000,
                "maxTotalRows": 20000000,
            },
            "forceGuaranteedRollup": False,
            "maxRowsInMemory": 50000,
            "maxNumConcurrentSubTasks": 3,
        },
        "context": {"priority": 10},
    }
    assert (first.datasource, first.pipeline, first.max_attempts) == ("clicks", "clicks-daily", 4)


def test_compaction_is_deterministic_and_its_ids_differ_from_ingestion() -> None:
    template = load_template("t.toml", text=BASE + COMPACTION)
    again = load_template("t.toml", text=BASE + COMPACTION)
    jobs = compile_compaction(template, TWO_DAYS)
    assert jobs == compile_compaction(again, TWO_DAYS)
    ingestion = compile_range(template, TWO_DAYS)
    assert {j.job_id for j in jobs}.isdisjoint(j.job_id for j in ingestion)
    assert {j.spec_hash for j in jobs}.isdisjoint(j.spec_hash for j in ingestion)
    for job in jobs:
        assert job.job_id.startswith("orch_compact_clicks_")
        assert job.job_id.endswith(job.spec_hash[:12])


def test_any_change_to_the_compaction_changes_the_ids() -> None:
    template = load_template("t.toml", text=BASE + COMPACTION)
    changed = load_template("t.toml", text=BASE + COMPACTION.replace("3000000", "3000001"))
    assert compile_compaction(template, TWO_DAYS)[0].job_id != (
        compile_compaction(changed, TWO_DAYS)[0].job_id
    )


def test_a_template_without_a_compaction_section_compacts_with_defaults() -> None:
    job = compile_compaction(load_template("t.toml", text=BASE), TWO_DAYS)[0]
    tuning = job.spec["tuningConfig"]
    assert tuning["partitionsSpec"] == {"type": "dynamic"}
    assert tuning["maxNumConcurrentSubTasks"] == 3


def test_target_rows_give_hashed_and_with_dimensions_range_partitioning() -> None:
    hashed = BASE + "[pipeline.compaction]\ntarget_rows_per_segment = 1000000\n"
    job = compile_compaction(load_template("t.toml", text=hashed), TWO_DAYS)[0]
    assert job.spec["tuningConfig"]["partitionsSpec"] == {
        "type": "hashed",
        "targetRowsPerSegment": 1000000,
    }
    assert job.spec["tuningConfig"]["forceGuaranteedRollup"] is True
    ranged = hashed + 'partition_dimensions = ["page"]\n'
    job = compile_compaction(load_template("t.toml", text=ranged), TWO_DAYS)[0]
    assert job.spec["tuningConfig"]["partitionsSpec"]["type"] == "range"
    assert isinstance(validate_spec(job.spec), CompactTask)


def test_the_compaction_chunk_overrides_the_template_chunk() -> None:
    text = BASE + COMPACTION + 'chunk = "PT12H"\n'
    jobs = compile_compaction(load_template("t.toml", text=text), TWO_DAYS)
    assert len(jobs) == 4


def test_compaction_jobs_wait_for_the_stream_as_batch_jobs_do() -> None:
    stream = (
        '[pipeline.stream]\ntype = "kafka"\ntopic = "clicks"\n'
        'consumer_properties = { "bootstrap.servers" = "k:9092" }\n'
    )
    template = load_template("t.toml", text=BASE + COMPACTION + stream)
    assert {j.watermark_from for j in compile_compaction(template, TWO_DAYS)} == {"clicks"}


def test_skip_offset_clips_the_range_end_aligned_down_when_now_is_given() -> None:
    text = BASE + COMPACTION + 'skip_offset_from_latest = "PT30H"\n'
    template = load_template("t.toml", text=text)
    now = datetime(2024, 1, 3, 10, 30, tzinfo=UTC)  # now - 30h = 2024-01-02T04:30
    jobs = compile_compaction(template, TWO_DAYS, now=now)
    assert [j.interval for j in jobs] == [
        "2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z",
        "2024-01-02T00:00:00.000Z/2024-01-02T04:00:00.000Z",
    ]
    assert len(compile_compaction(template, TWO_DAYS)) == 2  # no now: no clipping
    with pytest.raises(SpecError) as caught:
        compile_compaction(template, TWO_DAYS, now=datetime(2024, 1, 2, 5, tzinfo=UTC))
    assert (caught.value.path, caught.value.rule) == (
        "$.pipeline.compaction.skip_offset_from_latest",
        "skip-offset",
    )


def test_an_unaligned_range_is_refused() -> None:
    template = load_template("t.toml", text=BASE + COMPACTION)
    with pytest.raises(SpecError) as caught:
        compile_compaction(template, Interval.parse("2024-01-01T00:30/2024-01-02"))
    assert caught.value.rule == "interval-aligned"


@pytest.mark.parametrize(
    ("extra", "path", "rule"),
    [
        ("max_rows = 1\n", "compaction.max_rows", "unknown-field"),
        (
            "target_rows_per_segment = 10\n",
            "compaction.max_rows_per_segment",
            "compaction-partitions",
        ),
        ('skip_offset_from_latest = "1 day"\n', "compaction.skip_offset_from_latest", "period"),
        ('chunk = "fortnight"\n', "compaction.chunk", "chunk"),
        ("max_sub_tasks = 0\n", "compaction.max_sub_tasks", "schema"),
        ('chunk = "PT90M"\n', "compaction.chunk", "interval-aligned"),
    ],
)
def test_every_bad_compaction_key_names_the_file_its_path_and_the_rule(
    tmp_path: Path, extra: str, path: str, rule: str
) -> None:
    source = tmp_path / "clicks.toml"
    source.write_text(BASE + COMPACTION + extra)
    with pytest.raises(SpecError) as caught:
        load_template(source)
    assert (caught.value.source, caught.value.path, caught.value.rule) == (
        str(source),
        f"$.pipeline.{path}",
        rule,
    )


@pytest.mark.parametrize(
    ("section", "path", "rule"),
    [
        (
            'partition_dimensions = ["page"]\n',
            "compaction.partition_dimensions",
            "compaction-partitions",
        ),
        (
            'tuning = { partitionsSpec = { type = "dynamic" } }\n',
            "compaction.tuning.partitionsSpec",
            "template-tuning-key",
        ),
        ("tuning = { maxRowsInMemory = 0 }\n", "compaction.tuning.maxRowsInMemory", "schema"),
        (
            'target_rows_per_segment = 5\npartition_dimensions = ["page"]\nmax_sub_tasks = 1\n',
            "compaction.max_sub_tasks",
            "range-not-sequential",
        ),
    ],
)
def test_bad_sections_fail_at_load(tmp_path: Path, section: str, path: str, rule: str) -> None:
    source = tmp_path / "clicks.toml"
    source.write_text(BASE + "[pipeline.compaction]\n" + section)
    with pytest.raises(SpecError) as caught:
        load_template(source)
    assert (caught.value.path, caught.value.rule) == (f"$.pipeline.{path}", rule)
    assert str(caught.value).startswith(str(source))


# --- a datasource without a template -----------------------------------------------------


def test_a_datasource_without_a_template_compacts_with_only_what_is_given() -> None:
    request = DatasourceCompaction(datasource="legacy", max_rows_per_segment=1000)
    jobs = compile_datasource_compaction(request, TWO_DAYS, name="api")
    assert len(jobs) == 2
    spec = jobs[0].spec
    assert "granularitySpec" not in spec
    assert isinstance(validate_spec(spec), CompactTask)
    assert spec["tuningConfig"]["maxNumConcurrentSubTasks"] == 1
    assert jobs[0].job_id.startswith("orch_compact_legacy_")
    assert (jobs[0].pipeline, jobs[0].max_attempts, jobs[0].watermark_from) == ("api", 3, None)


def test_a_datasource_compaction_checks_its_granularity_alignment() -> None:
    request = DatasourceCompaction(datasource="legacy", segment_granularity="DAY")
    with pytest.raises(SpecError) as caught:
        compile_datasource_compaction(request, Interval.parse("2024-01-01T06/2024-01-03"))
    assert caught.value.rule == "interval-aligned"


@pytest.mark.parametrize(
    ("request_", "path", "rule"),
    [
        (DatasourceCompaction(datasource="a/b"), "$.datasource", "datasource-name"),
        (
            DatasourceCompaction(datasource="ds", query_granularity="WEEKLY"),
            "$.query_granularity",
            "granularity-name",
        ),
        (
            DatasourceCompaction(datasource="ds", partition_dimensions=["x"]),
            "$.partition_dimensions",
            "compaction-partitions",
        ),
    ],
)
def test_a_bad_datasource_compaction_names_path_rule_and_source(
    request_: DatasourceCompaction, path: str, rule: str
) -> None:
    with pytest.raises(SpecError) as caught:
        compile_datasource_compaction(request_, TWO_DAYS, name="req.json")
    assert (caught.value.source, caught.value.path, caught.value.rule) == ("req.json", path, rule)


def test_without_a_segment_granularity_skip_offset_aligns_to_the_chunk() -> None:
    request = DatasourceCompaction(datasource="legacy", skip_offset_from_latest="PT1H")
    now = datetime(2024, 1, 2, 17, 45, tzinfo=UTC)
    jobs = compile_datasource_compaction(request, TWO_DAYS, now=now)
    assert [j.interval for j in jobs] == ["2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z"]
    hourly = DatasourceCompaction(datasource="legacy", skip_offset_from_latest="PT1H", chunk="PT6H")
    jobs = compile_datasource_compaction(hourly, TWO_DAYS, now=now)
    assert jobs[-1].interval == "2024-01-02T12:00:00.000Z/2024-01-02T16:00:00.000Z"
