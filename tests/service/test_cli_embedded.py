"""Embedded mode as a person meets it, run as processes: Ctrl-C during `submit --wait` says
what is still running and how to follow it; `follow` drives the jobs to the end; `cancel` of
a job that already ended says so and exits 1."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.service.processes import FAST_ORCHESTRATOR, ROOT, clean_env, cli, running, simulator

PIPELINE = str(ROOT / "specs" / "pipelines" / "wikipedia.toml")
# The same pipeline, another spec (another hash, so other job ids for the same days).
MINUTES = Path(PIPELINE).read_text().replace('"HOUR"', '"MINUTE"')


async def test_ctrl_c_says_what_runs_follow_finishes_and_cancel_of_a_done_job_exits_1(
    tmp_path: Path,
) -> None:
    fast = tmp_path / "fast.toml"
    fast.write_text(FAST_ORCHESTRATOR)
    db = tmp_path / "orch.db"
    sim = simulator(min_s=2.0, max_s=2.5)
    async with running(sim) as overlord:
        target = ["--db", str(db), "--overlord", overlord, "--config", str(fast)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "service.cli.main",
            "submit",
            PIPELINE,
            "--interval",
            "2024-01-01/2024-01-04",
            "--wait",
            *target,
            cwd=ROOT,
            env=clean_env(COLUMNS="200"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            while b"accepted 3 jobs" not in await proc.stdout.readline():
                pass
        proc.send_signal(signal.SIGINT)
        rest, err = await asyncio.wait_for(proc.communicate(), 30)
        out = rest.decode()
        assert proc.returncode == 130, err.decode()
        assert "interrupted" in out
        assert "3 jobs left in flight" in out
        said = " ".join(line.strip() for line in out.splitlines())
        assert f"`druid-orch follow --db {db} --overlord {overlord} --config {fast}`" in said
        followed = await cli("follow", *target, env=clean_env(COLUMNS="80"))
        assert followed.code == 0, followed.err
        assert followed.out.splitlines()[-1] == "3 jobs: 3 succeeded"
        done = await cli("cancel", "wikipedia/2024-01-02", *target)
    assert done.code == 1
    assert "wikipedia/2024-01-02 already succeeded" in done.err
    assert "nothing to cancel" in done.err
    assert sim.stats()["duplicate_submissions"] == 0


async def test_submitting_days_another_spec_already_ingested_warns_and_replace_goes_on(
    tmp_path: Path,
) -> None:
    fast = tmp_path / "fast.toml"
    fast.write_text(FAST_ORCHESTRATOR)
    variant = tmp_path / "minutes.toml"
    variant.write_text(MINUTES)
    sim = simulator()
    async with running(sim) as overlord:
        target = ["--db", str(tmp_path / "orch.db"), "--overlord", overlord, "--config", str(fast)]
        first = await cli(
            "submit", PIPELINE, "--interval", "2024-01-01/2024-01-03", "--wait", *target
        )
        assert first.code == 0, first.err
        submitted = sim.stats()["submissions"]
        args = ["submit", str(variant), "--interval", "2024-01-02/2024-01-04", "--wait", *target]
        refused = await cli(*args)
        assert sim.stats()["submissions"] == submitted, "nothing submitted without --replace"
        replaced = await cli(*args, "--replace")
    assert refused.code == 1
    assert refused.err == (
        "druid-orch: error: 1 job covers an interval another job already ingested with a "
        "different spec (wikipedia/2024-01-02): submitting ingests those days again; "
        "--replace submits them anyway\n"
    )
    assert replaced.code == 0, replaced.err
    assert replaced.out.splitlines()[-1] == "2 jobs: 2 succeeded"
