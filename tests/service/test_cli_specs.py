"""`druid-orch validate` and `druid-orch compile`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli.main import main
from service.intake import job_from_spec
from specs.errors import SpecError
from specs.identity import canonical_json, spec_hash

SPECS = Path(__file__).resolve().parents[1] / "fixtures" / "druid-api" / "specs"
PIPELINE = str(Path(__file__).resolve().parents[2] / "specs" / "pipelines" / "wikipedia.toml")
GOOD = str(SPECS / "index_parallel__quickstart_wikipedia.json")
BAD = str(SPECS / "index__docs_simple_task_hashed.json")
LEGACY = str(SPECS / "kafka__quickstart_protobuf_metrics_supervisor.json")


def test_validate_exits_zero_and_says_ok_when_every_file_is_valid(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", GOOD, PIPELINE]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{GOOD}: ok (index_parallel)", f"{PIPELINE}: ok (pipeline template)"]


def test_validate_warns_that_submit_needs_the_intervals_a_valid_spec_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = json.loads(Path(GOOD).read_text())
    del spec["spec"]["dataSchema"]["granularitySpec"]["intervals"]
    path = tmp_path / "open_ended.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(SpecError) as refused:
        job_from_spec(spec)
    assert main(["validate", str(path)]) == 0  # Druid itself accepts it
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: ok (index_parallel)",
        f"{path}: {refused.value.path}: warning: {refused.value.detail} [job-needs-intervals]",
    ]


def test_validate_prints_one_line_per_error_and_exits_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", GOOD, BAD, LEGACY]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1] == (
        f"{BAD}: $.spec.tuningConfig.forceGuaranteedRollup: partitionsSpec type 'hashed' needs "
        "forceGuaranteedRollup: true; only dynamic partitioning works with best-effort rollup "
        "[partitions-need-perfect-rollup]"
    )
    assert out[2].startswith(f"{LEGACY}: $.dataSchema.parser: ")
    assert out[2].endswith("[parser-removed]")
    assert len(out) == 3


def test_validate_reports_unreadable_and_malformed_files_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    template = tmp_path / "bad.toml"
    template.write_text("[pipeline]\nname = 1\n")
    missing = str(tmp_path / "missing.json")
    assert main(["validate", str(broken), missing, str(template)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{broken}: $: not valid JSON")
    assert out[1].startswith(f"{missing}: $: cannot read")
    assert out[2].startswith(f"{template}: $.pipeline.name: ")


def test_compile_prints_each_job_spec_as_pretty_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", PIPELINE, "--interval", "2024-01-01/2024-01-02"]) == 0
    captured = capsys.readouterr()
    spec = json.loads(captured.out)
    assert spec["spec"]["dataSchema"]["granularitySpec"]["intervals"] == [
        "2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z"
    ]
    assert f"hash {spec_hash(spec)}" in captured.err


def test_compile_canonical_prints_one_hashable_line_per_job(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compile", PIPELINE, "--interval", "2024-01-01/P3D", "--canonical"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert canonical_json(json.loads(line)).decode() == line


def test_compile_shares_the_given_capacity_or_refuses_when_it_is_short(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["compile", PIPELINE, "--interval", "2024-01-01/P2D", "--capacity", "6"]) == 0
    out = capsys.readouterr().out
    assert out.count('"maxNumConcurrentSubTasks": 2') == 2
    assert main(["compile", PIPELINE, "--interval", "2024-01-01/P2D", "--capacity", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{PIPELINE}: $: 1 free slot(s) cannot start 2 job(s)")
    assert err.rstrip().endswith("[capacity]")


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        ("2024-01-01/", "--interval: '2024-01-01/' is not an interval"),
        ("2024-01-02/2024-01-01", "--interval: interval"),
        ("2024-01-01T06:00Z/P1D", "$.interval: range 2024-01-01T06:00:00.000Z"),
    ],
)
def test_compile_refuses_open_reversed_or_unaligned_intervals(
    interval: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compile", PIPELINE, "--interval", interval]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"{PIPELINE}: {expected}")
