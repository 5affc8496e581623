"""`druid-orch submit | status | cancel | resume | reconcile` as a user runs them: subprocesses,
embedded on a local log (`--db --overlord`) or against a control API (`--api`)."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import socket
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from actors.job.view import JobView
from actors.orchestrator import Orchestrator
from service.api import ControlApi
from service.cli.main import main
from service.cli.ops import _follow
from service.demo import demo_config
from specs.compiler import builtin_template, compile_job
from specs.intervals import Interval
from tests.service.processes import (
    FAST_ORCHESTRATOR,
    PASSWORD,
    ROOT,
    clean_env,
    cli,
    eventually,
    running,
    simulator,
)

PIPELINE = str(ROOT / "specs" / "pipelines" / "wikipedia.toml")
DAY = "2024-01-0{}T00:00:00.000Z/2024-01-0{}T00:00:00.000Z"


def fast(tmp_path: Path) -> str:
    path = tmp_path / "fast.toml"
    path.write_text(FAST_ORCHESTRATOR)
    return str(path)


def embedded(tmp_path: Path, overlord: str) -> list[str]:
    return ["--db", str(tmp_path / "orch.db"), "--overlord", overlord, "--config", fast(tmp_path)]


async def test_submit_wait_runs_a_template_range_and_prints_a_line_per_change_and_a_table(
    tmp_path: Path,
) -> None:
    sim = simulator()
    async with running(sim) as overlord:
        args = ["submit", PIPELINE, "--interval", "2024-01-01/2024-01-03", "--wait"]
        result = await cli(*args, *embedded(tmp_path, overlord))
    assert result.code == 0, result.err
    assert "accepted 2 jobs" in result.out
    assert result.out.count("  succeeded  attempt 1") >= 2
    table = result.out[result.out.index("JOB ") :]
    assert table.count("  succeeded  ") == 2
    # Handles, not 62-character ids; the Druid task id only under `--wide`.
    assert "wikipedia/2024-01-01  succeeded" in table
    assert "DRUID TASK" not in table


async def test_running_the_same_submit_again_finds_the_same_jobs_and_submits_nothing(
    tmp_path: Path,
) -> None:
    sim = simulator()
    async with running(sim) as overlord:
        args = ["submit", PIPELINE, "--interval", "2024-01-01/2024-01-02", "--wait", "--json"]
        first = await cli(*args, *embedded(tmp_path, overlord))
        submissions = sim.stats()["submissions"]
        second = await cli(*args, *embedded(tmp_path, overlord))
    assert first.code == second.code == 0, first.err + second.err
    ids = [[j["job_id"] for j in json.loads(r.out)["jobs"]] for r in (first, second)]
    assert ids[0] == ids[1]
    assert sim.stats()["submissions"] == submissions == 1


async def test_after_a_crash_the_same_command_resumes_the_jobs_without_duplicates(
    tmp_path: Path,
) -> None:
    sim = simulator(min_s=1.0, max_s=1.5)
    async with running(sim) as overlord:
        args = [
            sys.executable,
            "-m",
            "service.cli.main",
            "submit",
            PIPELINE,
            "--interval",
            "2024-01-01/2024-01-04",
            "--wait",
            *embedded(tmp_path, overlord),
        ]
        crashing = await asyncio.create_subprocess_exec(
            *args,
            cwd=ROOT,
            env=clean_env(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await eventually(lambda: sim.stats()["submissions"] >= 3)
        crashing.send_signal(signal.SIGKILL)
        await crashing.wait()
        resumed = await cli(*args[3:])
    assert resumed.code == 0, resumed.err
    assert resumed.out.count("succeeded") >= 3
    stats = sim.stats()
    assert stats["submissions"] == 3
    assert stats["duplicate_submissions"] == 0
    assert stats["max_live_tasks_per_interval"] == 1


async def test_submit_wait_exits_1_when_a_job_ends_dead(tmp_path: Path) -> None:
    sim = simulator(scripted={f"wikipedia/{DAY.format(2, 3)}": ["structural:parse_errors"]})
    async with running(sim) as overlord:
        args = ["submit", PIPELINE, "--interval", "2024-01-01/2024-01-03", "--wait", "--json"]
        result = await cli(*args, *embedded(tmp_path, overlord))
    assert result.code == 1
    phases = sorted(j["phase"] for j in json.loads(result.out)["jobs"])
    assert phases == ["dead", "succeeded"]
    assert "1 of 2 jobs ended dead or cancelled" in result.err


async def test_a_task_spec_file_is_submitted_as_one_job(tmp_path: Path) -> None:
    job = compile_job(builtin_template(), Interval.parse("2024-06-01/2024-06-02"))
    spec = tmp_path / "day.json"
    spec.write_bytes(msgspec.json.encode(job.spec))
    sim = simulator()
    async with running(sim) as overlord:
        result = await cli("submit", str(spec), "--wait", "--json", *embedded(tmp_path, overlord))
    assert result.code == 0, result.err
    (view,) = json.loads(result.out)["jobs"]
    assert view["interval"] == "2024-06-01T00:00:00.000Z/2024-06-02T00:00:00.000Z"
    assert view["phase"] == "succeeded"


async def test_a_bad_spec_file_exits_2_naming_the_file_and_path(tmp_path: Path) -> None:
    spec = tmp_path / "broken.json"
    spec.write_text('{"type": "index_parallel", "spec": {}}')
    result = await cli("submit", str(spec), "--db", str(tmp_path / "x.db"))
    assert result.code == 2
    assert "broken.json" in result.err
    assert "$.spec" in result.err
    template = await cli("submit", PIPELINE, "--db", str(tmp_path / "x.db"))
    assert template.code == 2
    assert "needs --interval" in template.err
    nowhere = await cli("submit", PIPELINE, "--interval", "2024-01-01/2024-01-02")
    assert nowhere.code == 2
    assert "--api URL" in nowhere.err


async def test_status_reads_the_log_alone_as_a_table_json_and_filtered(tmp_path: Path) -> None:
    sim = simulator(scripted={f"wikipedia/{DAY.format(1, 2)}": ["structural:missing_input"]})
    async with running(sim) as overlord:
        args = ["submit", PIPELINE, "--interval", "2024-01-01/2024-01-04", "--wait"]
        await cli(*args, *embedded(tmp_path, overlord))
    db = str(tmp_path / "orch.db")
    table = await cli("status", "--db", db)
    assert table.code == 0, table.err
    assert table.out.splitlines()[0].split() == ["JOB", "PHASE", "TRY", "WHEN", "WHY"]
    assert "3 jobs: 1 dead, 2 succeeded" in table.out
    assert "structural (missing-input)" in table.out
    dead = await cli("status", "--db", db, "--phase", "dead", "--json")
    (view,) = json.loads(dead.out)["jobs"]
    assert view["rule"] == "missing-input"
    for phases in ("bogus", "dead,bogus"):  # a typo is an error, not "0 jobs"
        typo = await cli("status", "--db", db, "--phase", phases)
        assert typo.code == 2, typo.out
        assert "argument --phase: invalid choice: 'bogus'" in typo.err
        assert "'retry_wait'" in typo.err
    unknown = await cli("status", "nope", "--db", db)
    assert unknown.code == 1
    assert "no job with id 'nope'" in unknown.err


async def test_cancel_and_reconcile_work_embedded(tmp_path: Path) -> None:
    sim = simulator(min_s=30.0, max_s=30.0)
    async with running(sim) as overlord:
        where = embedded(tmp_path, overlord)
        submitted = await cli(
            "submit", PIPELINE, "--interval", "2024-01-01/2024-01-02", "--json", *where
        )
        assert submitted.code == 0, submitted.err
        (job,) = json.loads(submitted.out)["jobs"]
        await eventually(lambda: sim.stats()["live_tasks"] == 1)
        cancelled = await cli("cancel", job["job_id"], "--json", *where)
        assert cancelled.code == 0, cancelled.err
        reconciled = await cli("reconcile", *where)
        assert reconciled.code == 0, reconciled.err
        assert "reconciled" in reconciled.out
        missing = await cli("cancel", "nope", *where)
    assert json.loads(cancelled.out)["jobs"][0]["job_id"] == job["job_id"]
    assert sim.stats()["live_tasks"] == 0, "the Druid task was shut down"
    assert missing.code == 1
    assert "no job with id 'nope'" in missing.err


async def test_an_embedded_cancel_ends_with_the_jobs_cancelled_not_left_cancelling(
    tmp_path: Path,
) -> None:
    # Embedded, nothing drives the jobs once the command exits: a job left `cancelling` in
    # the log stays so for `status --db` until some later orchestrator happens to run.
    sim = simulator(min_s=30.0, max_s=30.0)
    async with running(sim) as overlord:
        where = embedded(tmp_path, overlord)
        submitted = await cli(
            "submit", PIPELINE, "--interval", "2024-01-01/2024-01-03", "--json", *where
        )
        assert submitted.code == 0, submitted.err
        ids = [j["job_id"] for j in json.loads(submitted.out)["jobs"]]
        await eventually(lambda: sim.stats()["live_tasks"] == 2)
        cancelled = await cli("cancel", *ids, "--json", *where)
        status = await cli("status", "--json", "--db", str(tmp_path / "orch.db"))
    assert cancelled.code == 0, cancelled.err
    assert [j["phase"] for j in json.loads(cancelled.out)["jobs"]] == ["cancelled"] * 2
    assert [j["phase"] for j in json.loads(status.out)["jobs"]] == ["cancelled"] * 2
    assert sim.stats()["live_tasks"] == 0


async def test_an_embedded_reconcile_reports_what_it_found_not_a_second_empty_run(
    tmp_path: Path,
) -> None:
    sim = simulator()
    async with running(sim) as overlord:
        where = embedded(tmp_path, overlord)
        args = ["submit", PIPELINE, "--interval", "2024-01-01/2024-01-03", "--json"]
        submitted = await cli(*args, *where)  # no --wait: the jobs stay live in the log
        assert submitted.code == 0, submitted.err
        # Both tasks were submitted before the command returned, and finish meanwhile.
        assert sim.stats()["submissions"] == 2
        await eventually(lambda: sim.stats()["live_tasks"] == 0)
        reconciled = await cli("reconcile", "--json", *where)
    assert reconciled.code == 0, reconciled.err
    report = json.loads(reconciled.out)
    assert report["jobs_checked"] == 2
    assert sum(report["decisions"].values()) == 2, report  # each job's outcome, recorded


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--overlord", "http://h:99999"], "key `overlord.url`: 'http://h:99999' has a bad port"),
        (["--overlord", "127.0.0.1:8090"], "has no scheme"),
        (["--overlord", "ftp://127.0.0.1:21"], "has the scheme 'ftp'"),
        (["--overlord", f"http://admin:pa#{PASSWORD}@127.0.0.1:9"], "percent-encode"),
        (
            ["--overlord", "https://127.0.0.1:9", "--ca-bundle", "/nonexistent.pem"],
            "key `overlord.ca_bundle`: cannot load the CA bundle /nonexistent.pem",
        ),
    ],
)
async def test_an_unusable_overlord_url_or_ca_bundle_exits_2_naming_the_setting(
    tmp_path: Path, options: list[str], named: str
) -> None:
    result = await cli("reconcile", "--db", str(tmp_path / "orch.db"), *options)
    assert result.code == 2, result.err
    assert named in result.err
    assert "Traceback" not in result.err
    assert PASSWORD not in result.out + result.err
    assert not (tmp_path / "orch.db").exists(), "refused before anything was opened"


@pytest.fixture
async def daemon_api(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """An orchestrator with its control API in this process; yields (URL, token file)."""
    token_file = tmp_path / "token"
    token_file.write_text("cli-token-55\n")
    async with (
        running(simulator()) as overlord,
        Orchestrator.open(tmp_path / "api.db", overlord, config=demo_config()) as orch,
    ):
        api = ControlApi(token="cli-token-55")
        api.serve(orch)
        runner, url = await api.start("127.0.0.1", 0)
        try:
            yield url, token_file
        finally:
            await runner.cleanup()


async def test_submit_status_and_resume_talk_to_a_daemon_with_a_token(
    daemon_api: tuple[str, Path],
) -> None:
    url, token_file = daemon_api
    target = ["--api", url, "--token-file", str(token_file)]
    args = ["submit", PIPELINE, "--interval", "2024-01-01/2024-01-03", "--wait", "--json"]
    result = await cli(*args, *target)
    assert result.code == 0, result.err
    assert {j["phase"] for j in json.loads(result.out)["jobs"]} == {"succeeded"}
    assert "succeeded" in result.err, "progress goes to stderr with --json"
    status = await cli("status", "--json", *target)
    assert len(json.loads(status.out)["jobs"]) == 2
    resumed = await cli("resume", "wikipedia", *target)
    assert resumed.code == 0
    assert "was not paused" in resumed.out
    missing = await cli("cancel", "nope", *target)
    assert missing.code == 1
    assert "no job with id 'nope'" in missing.err


async def test_cancel_of_several_jobs_reports_those_done_beside_the_one_that_failed(
    daemon_api: tuple[str, Path],
) -> None:
    url, token_file = daemon_api
    target = ["--api", url, "--token-file", str(token_file)]
    args = ["submit", PIPELINE, "--interval", "2024-01-01/2024-01-03", "--wait", "--json"]
    done = [j["job_id"] for j in json.loads((await cli(*args, *target)).out)["jobs"]]
    # The jobs before and after the unknown id are acted on; the output must say so, not
    # only the error (the operator would otherwise think nothing happened).
    result = await cli("cancel", done[0], "nope", done[1], *target)
    assert result.code == 1
    assert "no job with id 'nope'" in result.err
    # Succeeded jobs: nothing to cancel, and each is said so.
    assert "wikipedia/2024-01-01 already succeeded" in result.err
    assert "wikipedia/2024-01-02 already succeeded" in result.err
    as_json = await cli("cancel", "nope", done[1], "--json", *target)
    assert as_json.code == 1
    assert json.loads(as_json.out)["jobs"] == []


async def test_a_wrong_token_or_no_daemon_is_a_clear_error(
    daemon_api: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = daemon_api
    wrong = await cli("status", "--api", url, env=clean_env(DRUID_ORCH_API_TOKEN="wrong"))
    assert wrong.code == 1
    assert "HTTP 401" in wrong.err
    assert "wrong" not in wrong.err
    gone = await cli("status", "--api", "http://127.0.0.1:9")
    assert gone.code == 1
    assert "cannot reach the daemon" in gone.err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Scripted:
    """A control whose jobs advance one phase per change the feed reports."""

    def __init__(self) -> None:
        self.polls = 0

    async def changes(self, after: int, wait_s: float) -> tuple[list[JobView], int]:
        return await self.views(), after + 2

    async def views(self, ids: list[str] | None = None) -> list[JobView]:
        self.polls += 1
        phases = ["accepted", "running", "succeeded"]
        phase = phases[min(self.polls - 1, 2)]
        return [
            JobView(
                job_id=f"j{i}",
                phase=phase,
                datasource="d",
                interval="i",
                attempt=1,
                task_id=None,
                terminal=phase == "succeeded",
            )
            for i in range(2)
        ]


async def test_on_a_terminal_wait_draws_one_progress_bar_in_place() -> None:
    out = _Terminal()
    scripted = _Scripted()
    submitted = await scripted.views()
    views = await _follow(scripted, submitted, 0, out, None)  # type: ignore[arg-type]
    text = out.getvalue()
    assert [v.phase for v in views] == ["succeeded", "succeeded"]
    assert text.count("\r") == 3
    assert "\n" not in text.rstrip("\n")
    assert "[" + "#" * 30 + "] 2/2 done" in text
    assert "succeeded 2" in text


async def test_sim_on_a_taken_port_or_with_a_bad_scenario_says_so_without_a_traceback(
    tmp_path: Path,
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = str(taken.getsockname()[1])
        busy = await cli("sim", "--host", "127.0.0.1", "--port", port)
    finally:
        taken.close()
    assert busy.code == 1, busy.err
    assert f"cannot listen on 127.0.0.1:{port}" in busy.err
    broken = tmp_path / "broken.toml"
    broken.write_text("[cluster\n")
    bad = await cli("sim", "--scenario", str(broken))
    assert bad.code == 2, bad.err
    assert "not valid TOML" in bad.err
    assert "Traceback" not in busy.err + bad.err


def test_version_prints_the_installed_distribution_version_from_pyproject(
    capsys: pytest.CaptureFixture[str],
) -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"druid-orch {declared}\n"
