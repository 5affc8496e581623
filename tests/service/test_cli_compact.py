"""`druid-orch compact` as a user runs it (a subprocess, against the simulator), and
`compile` / `validate` on a template with stream and compaction sections."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from actors.orchestrator import Orchestrator
from service.api import ControlApi
from service.cli.specs import cmd_compile, cmd_validate
from service.demo import demo_config
from tests.service.processes import FAST_ORCHESTRATOR, ROOT, cli, running, simulator

CLICKS = str(ROOT / "specs" / "pipelines" / "clicks.toml")
WIKIPEDIA = str(ROOT / "specs" / "pipelines" / "wikipedia.toml")


def embedded(tmp_path: Path, overlord: str) -> list[str]:
    fast = tmp_path / "fast.toml"
    fast.write_text(FAST_ORCHESTRATOR)
    return ["--db", str(tmp_path / "orch.db"), "--overlord", overlord, "--config", str(fast)]


async def test_compact_without_a_template_runs_compact_tasks_to_success(tmp_path: Path) -> None:
    sim = simulator()
    async with running(sim) as overlord:
        args = ["compact", "legacy", "--interval", "2024-01-01/2024-01-03"]
        args += ["--max-rows-per-segment", "1000", "--wait", "--json"]
        result = await cli(*args, *embedded(tmp_path, overlord))
        payloads = [task.payload for task in sim.cluster.tasks.values()]
    assert result.code == 0, result.err
    jobs = json.loads(result.out)["jobs"]
    assert [j["phase"] for j in jobs] == ["succeeded", "succeeded"]
    assert all(j["job_id"].startswith("orch_compact_legacy_") for j in jobs)
    assert {p["type"] for p in payloads} == {"compact"}
    assert {p["tuningConfig"]["partitionsSpec"]["maxRowsPerSegment"] for p in payloads} == {1000}
    assert sim.stats()["duplicate_submissions"] == 0


async def test_compact_with_a_template_uses_its_granularities_and_is_idempotent(
    tmp_path: Path,
) -> None:
    sim = simulator()
    async with running(sim) as overlord:
        args = ["compact", "wikipedia", "--interval", "2024-01-01/2024-01-02", "--template"]
        args += [WIKIPEDIA, "--wait", "--json", *embedded(tmp_path, overlord)]
        first = await cli(*args)
        second = await cli(*args)
        submissions = sim.stats()["submissions"]
        payloads = [task.payload for task in sim.cluster.tasks.values()]
    assert first.code == second.code == 0, first.err + second.err
    ids = [[j["job_id"] for j in json.loads(r.out)["jobs"]] for r in (first, second)]
    assert ids[0] == ids[1]
    assert ids[0][0].startswith("orch_compact_wikipedia_")
    assert submissions == 1
    (payload,) = payloads
    assert payload["granularitySpec"] == {
        "segmentGranularity": "DAY",
        "queryGranularity": "HOUR",
        "rollup": True,
    }


async def test_compact_refuses_bad_input_with_exit_2_before_reaching_anything(
    tmp_path: Path,
) -> None:
    nowhere = ["--db", str(tmp_path / "x.db"), "--overlord", "http://127.0.0.1:9"]
    wrong = await cli(
        "compact", "clicks", "--interval", "2024-01-01/P1D", "--template", WIKIPEDIA, *nowhere
    )
    assert wrong.code == 2
    assert "wikipedia" in wrong.err
    assert "$.pipeline.datasource" in wrong.err
    mixed = await cli(
        "compact", "wikipedia", "--interval", "2024-01-01/P1D", "--template", WIKIPEDIA,
        "--chunk", "DAY", *nowhere,
    )  # fmt: skip
    assert mixed.code == 2
    assert "--chunk" in mixed.err
    bad = await cli("compact", "legacy", "--interval", "2024-01-01/P1D", "--chunk", "x", *nowhere)
    assert bad.code == 2
    assert "$.compaction.chunk" in bad.err
    assert "[chunk]" in bad.err
    assert not (tmp_path / "x.db").exists()


async def test_compact_through_a_daemons_api(tmp_path: Path) -> None:
    # A template without a stream: a stream's jobs would wait for a supervisor's watermark.
    token_file = tmp_path / "token"
    token_file.write_text("compact-token\n")
    async with (
        running(simulator()) as overlord,
        Orchestrator.open(tmp_path / "api.db", overlord, config=demo_config()) as orch,
    ):
        api = ControlApi(token="compact-token")
        api.serve(orch)
        runner, url = await api.start("127.0.0.1", 0)
        try:
            args = ["compact", "wikipedia", "--interval", "2024-01-01/2024-01-03"]
            args += ["--template", WIKIPEDIA, "--wait", "--json"]
            result = await cli(*args, "--api", url, "--token-file", str(token_file))
        finally:
            await runner.cleanup()
    assert result.code == 0, result.err
    jobs = json.loads(result.out)["jobs"]
    assert [j["phase"] for j in jobs] == ["succeeded", "succeeded"]
    assert all(j["job_id"].startswith("orch_compact_wikipedia_") for j in jobs)


def compile_args(**kwargs: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "template": CLICKS,
        "interval": None,
        "capacity": None,
        "canonical": False,
        "compaction": False,
        "supervisor": False,
    }
    return argparse.Namespace(**{**base, **kwargs})


def test_compile_prints_the_supervisor_with_secrets_masked_never_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLICKS_PW", "hunter2-never-printed")
    text = (
        Path(CLICKS)
        .read_text()
        .replace(
            '"sasl.mechanism" = "PLAIN"',
            '"sasl.mechanism" = "PLAIN"\n"ssl.key.password" = { env = "CLICKS_PW" }',
        )
    )
    template = tmp_path / "clicks.toml"
    template.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    assert cmd_compile(compile_args(template=str(template), supervisor=True), out, err) == 0
    assert "hunter2" not in out.getvalue() + err.getvalue()
    spec = json.loads(out.getvalue())
    assert spec["type"] == "kafka"
    assert spec["id"] == "clicks"
    properties = spec["spec"]["ioConfig"]["consumerProperties"]
    assert properties["ssl.key.password"] == "<secret from env CLICKS_PW>"
    assert err.getvalue().startswith("# supervisor clicks datasource clicks")


def test_compile_prints_the_compaction_jobs_of_a_range() -> None:
    out, err = io.StringIO(), io.StringIO()
    args = compile_args(interval="2024-01-01/P3D", compaction=True, canonical=True)
    assert cmd_compile(args, out, err) == 0
    specs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [s["type"] for s in specs] == ["compact"] * 3
    assert err.getvalue().count("# job orch_compact_clicks_") == 3


def test_compile_needs_an_interval_but_for_the_supervisor() -> None:
    err = io.StringIO()
    assert cmd_compile(compile_args(), io.StringIO(), err) == 1
    assert "--interval is required" in err.getvalue()


def test_validate_says_what_sections_a_template_has() -> None:
    out = io.StringIO()
    assert cmd_validate(argparse.Namespace(files=[CLICKS, WIKIPEDIA]), out) == 0
    assert out.getvalue().splitlines() == [
        f"{CLICKS}: ok (pipeline template, kafka stream, compaction)",
        f"{WIKIPEDIA}: ok (pipeline template)",
    ]


def test_validate_reports_a_bad_stream_key_with_file_path_and_rule(tmp_path: Path) -> None:
    bad = tmp_path / "clicks.toml"
    bad.write_text(Path(CLICKS).read_text().replace('topic = "clicks"', 'topik = "clicks"'))
    out = io.StringIO()
    assert cmd_validate(argparse.Namespace(files=[str(bad)]), out) == 1
    assert out.getvalue().startswith(f"{bad}: $.pipeline.stream.topik: unknown field")
