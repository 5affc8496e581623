"""Intake of compaction: a template with `kind = "compact"`, a `compaction` object for a
datasource without a template, and a raw `compact` spec, all as `POST /v1/jobs` bodies."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from service.demo import demo_config
from service.intake import SubmitRequest, job_from_spec, jobs_from_request
from specs.compaction import compile_compaction
from specs.compiler import builtin_template, load_template
from specs.errors import SpecError
from specs.intervals import Interval
from tests.service.processes import ROOT
from tests.service.test_api import serving

CLICKS = ROOT / "specs" / "pipelines" / "clicks.toml"
RANGE = "2024-01-01/2024-01-03"
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def clicks() -> dict[str, Any]:
    return tomllib.loads(CLICKS.read_text())


def request(**fields: Any) -> SubmitRequest:
    return msgspec.convert(fields, SubmitRequest)  # as the API decodes its body


def test_a_template_with_kind_compact_gives_the_compilers_compaction_jobs() -> None:
    jobs = jobs_from_request(request(template=clicks(), kind="compact", intervals=[RANGE]), now=NOW)
    expected = compile_compaction(load_template(CLICKS), Interval.parse(RANGE), now=NOW)
    assert jobs == expected
    assert [j.spec["type"] for j in jobs] == ["compact", "compact"]
    assert {j.watermark_from for j in jobs} == {"clicks"}


def test_the_same_template_ingests_by_default_under_other_ids() -> None:
    ingest = jobs_from_request(request(template=clicks(), intervals=[RANGE]), now=NOW)
    compact = jobs_from_request(
        request(template=clicks(), kind="compact", intervals=[RANGE]), now=NOW
    )
    assert [j.spec["type"] for j in ingest] == ["index_parallel"] * 2
    assert {j.job_id for j in ingest}.isdisjoint(j.job_id for j in compact)


def test_skip_offset_counts_back_from_the_time_of_the_request() -> None:
    late = datetime(2024, 1, 3, 12, tzinfo=UTC)  # P1D back: 2024-01-02T12:00
    jobs = jobs_from_request(
        request(template=clicks(), kind="compact", intervals=[RANGE]), now=late
    )
    assert jobs[-1].interval.endswith("/2024-01-02T12:00:00.000Z")


def test_a_compaction_object_compacts_a_datasource_without_a_template() -> None:
    body = request(
        compaction={"datasource": "legacy", "max_rows_per_segment": 1000, "chunk": "P2D"},
        intervals=[RANGE],
        max_attempts=7,
        task_id_prefix="ops",
        name="nightly",
    )
    (job,) = jobs_from_request(body, now=NOW)
    assert job.job_id.startswith("ops_compact_legacy_")
    assert (job.datasource, job.max_attempts, job.pipeline) == ("legacy", 7, "nightly")
    assert job.spec["tuningConfig"]["partitionsSpec"] == {
        "type": "dynamic",
        "maxRowsPerSegment": 1000,
    }


@pytest.mark.parametrize(
    ("fields", "path", "rule"),
    [
        (
            {"compaction": {"datasource": "x", "max_rowz": 1}},
            "$.compaction.max_rowz",
            "unknown-field",
        ),
        ({"compaction": {}}, "$.compaction.datasource", "missing-field"),
        (
            {"compaction": {"datasource": "x", "chunk": "fortnight"}},
            "$.compaction.chunk",
            "chunk",
        ),
        (
            {
                "compaction": {"datasource": "x", "segment_granularity": "DAY"},
                "intervals": ["2024-01-01T06/P1D"],
            },
            "$.intervals",
            "interval-aligned",
        ),
        ({"compaction": {"datasource": "x"}, "intervals": []}, "$.intervals", "request"),
        ({"compaction": {"datasource": "x"}, "kind": "compact"}, "$.kind", "request"),
        ({"compaction": {"datasource": "x"}, "template": {}}, "$", "request"),
    ],
)
def test_a_bad_compaction_request_names_its_path_and_rule(
    fields: dict[str, Any], path: str, rule: str
) -> None:
    body = request(**{"intervals": [RANGE], **fields})
    with pytest.raises(SpecError) as caught:
        jobs_from_request(body, now=NOW)
    assert (caught.value.path, caught.value.rule) == (path, rule)


def test_a_template_body_is_checked_as_a_template_file_is() -> None:
    template = clicks()
    template["pipeline"]["compaction"]["chunk"] = "fortnight"
    with pytest.raises(SpecError) as caught:
        jobs_from_request(
            request(template=template, kind="compact", intervals=[RANGE], name="clicks.toml"),
            now=NOW,
        )
    assert (caught.value.source, caught.value.path, caught.value.rule) == (
        "clicks.toml",
        "$.compaction.chunk",
        "chunk",
    )


def test_a_raw_compact_spec_is_one_job_named_compact() -> None:
    spec = {
        "type": "compact",
        "dataSource": "wikipedia",
        "ioConfig": {
            "type": "compact",
            "inputSpec": {"type": "interval", "interval": "2020-01-01/2020-01-02"},
        },
    }
    job = job_from_spec(spec, name="c.json")
    assert job.job_id.startswith("orch_compact_wikipedia_20200101T000000Z_20200102T000000Z_")
    assert (job.datasource, job.interval) == (
        "wikipedia",
        "2020-01-01T00:00:00.000Z/2020-01-02T00:00:00.000Z",
    )
    assert job_from_spec({**spec, "id": "ignored"}, name="c.json") == job


def test_the_shipped_compaction_examples_of_the_druid_corpus_are_jobs() -> None:
    corpus = Path(__file__).resolve().parents[1] / "fixtures" / "druid-api" / "specs"
    for path in sorted(corpus.glob("compact__*.json")):
        job = job_from_spec(msgspec.json.decode(path.read_bytes()), name=path.name)
        assert "_compact_" in job.job_id


def test_a_compact_spec_of_segments_has_no_interval_to_name_its_job() -> None:
    spec = {
        "type": "compact",
        "dataSource": "wikipedia",
        "ioConfig": {"type": "compact", "inputSpec": {"type": "segments", "segments": ["s1"]}},
    }
    with pytest.raises(SpecError) as caught:
        job_from_spec(spec, name="c.json")
    assert (caught.value.source, caught.value.rule) == ("c.json", "job-needs-intervals")


def test_ingestion_jobs_are_unchanged_by_the_compaction_fields() -> None:
    template = msgspec.to_builtins(builtin_template())
    (job,) = jobs_from_request(request(template=template, intervals=["2024-01-01/P1D"]))
    assert job.spec["type"] == "index_parallel"
    assert job.watermark_from is None


async def test_the_api_takes_a_compaction_object_and_runs_its_compact_tasks(
    tmp_path: Path,
) -> None:
    body = {
        "compaction": {"datasource": "wikipedia", "target_rows_per_segment": 10_000},
        "intervals": ["2024-05-01/2024-05-03"],
    }
    async with serving(tmp_path / "api.db", demo_config()) as api:
        status, answer = await api.call("POST", "/v1/jobs", json=body)
        assert status == 202, answer
        ids = [job["job_id"] for job in answer["jobs"]]
        final = await api.until_terminal(ids)
        bad_status, bad = await api.call(
            "POST", "/v1/jobs", json={**body, "compaction": {"datasource": "wikipedia", "x": 1}}
        )
    assert len(ids) == 2
    assert all(job_id.startswith("orch_compact_wikipedia_") for job_id in ids)
    assert {job["phase"] for job in final} == {"succeeded"}
    assert bad_status == 400
    assert "$.compaction.x" in bad["error"]
