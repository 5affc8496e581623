"""`druid-orch audit verify|rebuild-summaries --db postgresql://…` as a user meets them: the
chain walked, every job stream replayed, every summary row compared with the fold of its
stream (an edit by hand reported like a broken link), a rebuild restoring it, and archived
jobs handled as on SQLite. The log is the golden demo log, copied verbatim."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from actors.job.evolve import evolve
from actors.job.state import JobState
from actors.job.summary import summary_of
from eventlog.events import JobAccepted, StatusObserved, spec_raw
from eventlog.postgres import PostgresEventLog
from eventlog.postgres.copy import copy_into
from eventlog.postgres.retention import archive_closed_streams_pg
from eventlog.summaries import SummaryQuery
from service.cli.postgres.audit import audited, rebuild
from tests import pg_support
from tests.golden.test_eventlog_golden import golden_events
from tests.service.processes import Result, clean_env, cli

# The demo's six jobs (42 events), every one succeeded at version 5 to 9.
JOBS = 6
EVENTS = 42


@pytest.fixture
async def url() -> AsyncIterator[str]:
    """A database holding the golden demo log, its job streams closed, no summaries yet."""
    events = golden_events("demo_v1")
    rows = [
        (e.seq, e.stream_id, e.version, e.type, bytes(e.body), e.recorded_at, bytes.fromhex(e.hash))
        for e in events
    ]
    last = {e.stream_id: e for e in events}
    streams = [(sid, e.version, True, e.recorded_at) for sid, e in last.items()]
    async with pg_support.scratch_database() as url:
        assert (await copy_into(url, [rows], streams, [])).ok
        yield url


def accepted(job_id: str) -> JobAccepted:
    return JobAccepted(
        at=1.0,
        job_id=job_id,
        datasource="wiki",
        interval="2024-01-01/2024-01-02",
        spec=spec_raw({}),
        spec_hash="f" * 64,
    )


async def audit(*args: str, password: str = "not-used-by-trust-auth") -> Result:
    """`druid-orch audit ARGS`, with a password in the environment (never to be shown)."""
    done = await cli("audit", *args, env=clean_env(DRUID_ORCH_EVENTLOG_PASSWORD=password))
    assert password not in done.out + done.err
    return done


async def a_succeeded_job(url: str) -> tuple[str, int, int]:
    """(job id, position, version) of the first job's summary row."""
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT job_id, position FROM job_summaries WHERE phase = 'succeeded' "
            "ORDER BY job_id LIMIT 1"
        )
        version = await conn.fetchval(
            "SELECT max(version) FROM events WHERE stream_id = $1", "job:" + row[0]
        )
    finally:
        await conn.close()
    return str(row[0]), int(row[1]), int(version)


async def test_verify_replays_every_job_and_catches_a_summary_row_edited_by_hand(
    url: str,
) -> None:
    unbuilt = await audit("verify", "--db", url)
    assert unbuilt.code == 1
    assert "has events but no summary row" in unbuilt.out
    assert "`druid-orch audit rebuild-summaries` rebuilds" in unbuilt.out

    rebuilt = await audit("rebuild-summaries", "--db", url)
    assert rebuilt.code == 0, rebuilt.err
    assert rebuilt.out == f"{url}: rebuilt {JOBS} job summaries from the events\n"
    ok = await audit("verify", "--db", url)
    assert ok.code == 0, ok.out + ok.err
    assert ok.out == (
        f"{url}: OK: {EVENTS} events in {JOBS} streams; hash chain intact, {JOBS} job streams "
        "replay through the FSM without an illegal transition; every job summary equals the "
        "fold of its stream\n"
    )
    as_json = json.loads((await audit("verify", "--db", url, "--json")).out)
    assert as_json == {
        "events": EVENTS,
        "streams": JOBS,
        "jobs": JOBS,
        "chain_checked": True,
        "problem": None,
        "ok": True,
    }

    job, position, version = await a_succeeded_job(url)
    assert (
        await pg_support.tamper(
            url, f"UPDATE job_summaries SET phase = 'dead' WHERE job_id = '{job}'"
        )
        == 1
    )
    broken = await audit("verify", "--db", url)
    assert broken.code == 1
    assert broken.out.startswith(
        f"{url}: FAILED (summaries) at seq {position} (stream job:{job}, version {version}): "
        f"the summary row of job {job} differs from the fold of its stream: "
        "phase is 'dead' where the events say 'succeeded'"
    ), broken.out
    problem = json.loads((await audit("verify", "--db", url, "--json")).out)["problem"]
    assert (problem["check"], problem["seq"], problem["stream_id"]) == (
        "summaries",
        position,
        "job:" + job,
    )

    assert (await audit("rebuild-summaries", "--db", url, "--json")).out == (
        f'{{"summaries":{JOBS}}}\n'
    )
    assert (await audit("verify", "--db", url)).code == 0
    async with PostgresEventLog(url) as log:
        restored = await log.job_summary(job)
        assert restored is not None
        assert restored.phase == "succeeded"


async def test_an_edited_phase_count_and_a_stream_that_does_not_replay_are_caught(
    url: str,
) -> None:
    assert (await audit("rebuild-summaries", "--db", url)).code == 0
    await pg_support.tamper(url, "UPDATE job_phase_counts SET jobs = jobs + 5")
    counts = await audit("verify", "--db", url)
    assert counts.code == 1
    assert "the stored jobs-by-phase counts {'succeeded': 11} differ from the rows' " in counts.out
    assert (await audit("rebuild-summaries", "--db", url)).code == 0
    assert (await audit("verify", "--db", url)).code == 0
    # An event no job story allows, appended through the log (so the chain is intact).
    async with PostgresEventLog(url) as log:
        stray = StatusObserved(at=1.0, task_id="t", runner_status="RUNNING")
        assert (await log.append("job:stray", [stray], 0)).first_seq == EVENTS + 1
    broken = await audit("verify", "--db", url)
    assert broken.code == 1
    assert broken.out.startswith(
        f"{url}: FAILED (replay) at seq {EVENTS + 1} (stream job:stray, version 1): "
        "illegal transition: "
    ), broken.out


async def test_archived_jobs_keep_their_rows_out_of_the_check_and_through_a_rebuild(
    url: str, tmp_path: Path
) -> None:
    assert (await audit("rebuild-summaries", "--db", url)).code == 0
    job, _, _ = await a_succeeded_job(url)
    async with PostgresEventLog(url) as log:
        report = await archive_closed_streams_pg(
            log, older_than=float("inf"), directory=tmp_path / "archive", prefix="job:" + job
        )
        assert report.streams == 1
    ok = await audit("verify", "--db", url, "--archives")
    assert ok.code == 0, ok.out + ok.err
    assert f"in {JOBS - 1} streams; hash chain intact, {JOBS - 1} job streams replay" in ok.out
    assert "every job summary equals the fold of its stream" in ok.out
    [archive] = report.archives
    await asyncio.to_thread(Path(archive).rename, tmp_path / "moved.jsonl")
    lost = await audit("verify", "--db", url, "--archives")
    assert lost.code == 1
    assert "FAILED (chain: archive)" in lost.out, lost.out
    assert (await audit("rebuild-summaries", "--db", url)).out.endswith(
        f"rebuilt {JOBS - 1} job summaries from the events\n"
    )
    async with PostgresEventLog(url) as log:
        assert (await log.job_summary(job)) is not None, "an archived job is still listed"
        assert await log.phase_counts() == {"succeeded": JOBS}
        assert len((await log.job_summaries(SummaryQuery(limit=100))).jobs) == JOBS
    assert (await audit("verify", "--db", url)).code == 0


async def test_verify_and_a_rebuild_beside_a_leader_appending_see_one_moment_of_the_log(
    url: str,
) -> None:
    """A leader keeps accepting jobs (each row written with its event) while the audit reads
    and rebuilds: every snapshot agrees with itself, and every rebuild finishes, its rows
    equal to the fold."""
    async with PostgresEventLog(url) as leader, PostgresEventLog(url) as auditor:
        assert await rebuild(auditor) == JOBS
        stop, moved = asyncio.Event(), asyncio.Event()
        appended = 0

        async def accept_jobs() -> None:
            nonlocal appended
            while not stop.is_set():
                event = accepted(f"live{appended:05d}")
                summary = summary_of(evolve(JobState(), event))
                await leader.append(f"job:live{appended:05d}", [event], 0, summary=summary)
                appended += 1
                moved.set()

        seen: list[int] = []
        rebuilt: list[int] = []
        async with asyncio.TaskGroup() as tg:
            tg.create_task(accept_jobs())
            for _ in range(20):
                await moved.wait()  # the leader has appended since the last look
                moved.clear()
                report, checked = audited(await auditor.audit_snapshot())
                assert report.ok, report.problem
                assert checked
                seen.append(report.jobs)
                rebuilt.append(await rebuild(auditor))
            stop.set()
    # Each wait ends after an append that committed once the look before it had ended.
    assert seen == sorted(seen)
    assert seen[-1] > seen[0]
    assert rebuilt == sorted(rebuilt)
    assert rebuilt[-1] > rebuilt[0]
    final = await audit("verify", "--db", url)
    assert final.code == 0, final.out
    assert f"{JOBS + appended} job streams replay" in final.out
    assert "every job summary equals the fold of its stream" in final.out
