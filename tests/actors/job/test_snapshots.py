"""Job state comes back the same from snapshots, stale snapshots and no snapshots at all."""

from __future__ import annotations

from pathlib import Path

from actors.job.evolve import evolve
from actors.job.fsm import decide
from actors.job.messages import Accept, BeginAttempt, RecordStatus, RecordSubmitted
from actors.job.state import STATE_SCHEMA_VERSION, JobState
from actors.job.stream import JOB_FOLDER, load_state
from actors.stream_names import job_stream
from eventlog.events import spec_raw
from eventlog.sqlite.store import SQLiteEventLog

JOB = "orch_ds_20240101T000000Z_20240102T000000Z_0123456789ab"


async def record_a_running_job(log: SQLiteEventLog) -> JobState:
    state = JobState()
    commands = [
        Accept(
            at=0,
            job_id=JOB,
            datasource="ds",
            interval="i",
            spec=spec_raw({"type": "index_parallel"}),
            spec_hash="h",
            max_attempts=3,
        ),
        BeginAttempt(at=1),
        RecordSubmitted(at=2, task_id=f"{JOB}_1"),
    ] + [
        RecordStatus(at=3 + n, task_id=f"{JOB}_1", status="RUNNING", runner_status=runner)
        for n, runner in enumerate(["WAITING", "PENDING", "RUNNING"] * 30)
    ]
    for command in commands:
        events = decide(state, command)
        if events:
            await log.append(job_stream(JOB), events, state.version)
            for event in events:
                state = evolve(state, event)
    return state


async def test_a_job_folds_to_the_same_state_with_or_without_its_snapshot(tmp_path: Path) -> None:
    async with SQLiteEventLog(tmp_path / "log.db") as log:
        live = await record_a_running_job(log)
        assert await load_state(log, JOB) == live  # long tail: a snapshot gets written
        assert await log.load_snapshot(job_stream(JOB), STATE_SCHEMA_VERSION) is not None
        again = await JOB_FOLDER.load(log, job_stream(JOB))
        assert (again.source, again.state) == ("snapshot", live)  # the spec survives it too


async def test_a_stale_or_garbled_snapshot_is_ignored_and_rebuilt(tmp_path: Path) -> None:
    async with SQLiteEventLog(tmp_path / "log.db") as log:
        live = await record_a_running_job(log)
        sid = job_stream(JOB)
        wrong = JOB_FOLDER.encode(JobState(job_id=JOB, phase="succeeded", version=3))
        await log.save_snapshot(sid, 3, STATE_SCHEMA_VERSION - 1, wrong)  # older schema
        assert await load_state(log, JOB) == live
        await log.save_snapshot(sid, live.version, STATE_SCHEMA_VERSION, b"\xc1garbage")
        assert await load_state(log, JOB) == live
        rebuilt = await log.load_snapshot(sid, STATE_SCHEMA_VERSION)
        assert rebuilt is not None
        assert JOB_FOLDER.decode(rebuilt[1]) == live
