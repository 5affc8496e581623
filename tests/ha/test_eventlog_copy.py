"""`druid-orch eventlog copy`: a SQLite log moves to PostgreSQL whole, chain and all (a log
thinned by retention with its checkpoints)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventlog.errors import StreamArchivedError
from eventlog.events import StatusObserved
from eventlog.postgres import PostgresEventLog
from eventlog.records import ANY_VERSION
from eventlog.retention.closed_streams import archive_closed_streams
from eventlog.sqlite.store import SQLiteEventLog
from eventlog.summaries import JobSummary, SummaryQuery
from tests import pg_support
from tests.eventlog.test_retention import Clock, build, running
from tests.service.processes import cli


def summary(job: str, phase: str) -> JobSummary:
    return JobSummary(
        job_id=job,
        datasource="wiki",
        interval="2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z",
        phase=phase,
        terminal=phase == "succeeded",
        attempt=1,
        max_attempts=3,
    )


async def test_a_sqlite_log_is_copied_verified_and_a_second_copy_refused(tmp_path: Path) -> None:
    db = tmp_path / "orch.db"
    async with SQLiteEventLog(db, writer="thread") as log:
        for n in range(30):
            event = StatusObserved(at=float(n), task_id="t", runner_status="RUNNING")
            await log.append(
                f"job:j{n % 7}", [event], n // 7, summary=summary(f"j{n % 7}", "running")
            )
        await log.append(
            "job:j0", [event], 5, close_stream=True, summary=summary("j0", "succeeded")
        )
        want = await log.job_summaries(SummaryQuery(limit=100))
    async with pg_support.scratch_database() as url:
        done = await cli("eventlog", "copy", "--from", str(db), "--to", url)
        assert done.code == 0, done.err
        assert "copied 31 events (7 streams, 7 job summaries)" in done.out
        assert "chain verified up to seq 31" in done.out
        async with PostgresEventLog(url) as log:
            assert (await log.verify()).ok
            assert await log.job_summaries(SummaryQuery(limit=100)) == want
            assert ("job:j0", 6, True) in await log.all_streams()
            assert "job:j0" not in dict(await log.open_streams())
        status = await cli("status", "--db", url, "--phase", "succeeded")
        assert status.code == 0, status.err
        assert "1 job: 1 succeeded" in status.out
        assert "wiki/2024-01-01" in status.out
        # These streams tell no job's story: past the chain, which is checked first and
        # holds, the FSM replay names the first event (tests/ha/test_audit_on_postgres.py
        # verifies a real log).
        audit = await cli("audit", "verify", "--db", url)
        assert audit.code == 1, audit.err
        assert "FAILED (replay) at seq 1 (stream job:j0, version 1)" in audit.out
        assert await pg_support.tamper(url, "UPDATE events SET type = 'x' WHERE seq = 7") == 1
        broken = await cli("audit", "verify", "--db", url)
        assert broken.code == 1
        assert "FAILED (chain: altered) at seq 7" in broken.out
        again = await cli("eventlog", "copy", "--from", str(db), "--to", url)
        assert again.code == 1
        assert "already holds an event log (head seq 31)" in again.err
    bad = await cli("eventlog", "copy", "--from", str(db), "--to", "mysql://x/y")
    assert bad.code == 2
    assert "is not a postgresql:// URL" in bad.err


async def test_a_log_thinned_by_retention_is_copied_with_its_checkpoints(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "orch.db"
    async with SQLiteEventLog(db, clock=clock) as log:
        await build(log, clock)
        # Every finished job, the newest event (seq 8) too: the head lies in a checkpoint.
        report = await archive_closed_streams(
            log, older_than=10_000.0, directory=tmp_path / "archive", clock=clock
        )
        assert (report.streams, report.events) == (3, 6)
    async with pg_support.scratch_database() as url:
        done = await cli("eventlog", "copy", "--from", str(db), "--to", url)
        assert done.code == 0, done.err
        assert "chain verified up to seq 8" in done.out
        async with PostgresEventLog(url) as log:
            chain = await log.verify(archives=True)
            assert chain.ok, chain.broken
            assert (chain.events, chain.archived, chain.checkpoints) == (2, 6, 3)
            assert await log.archived("job:a") == (2, 5000.0)
            with pytest.raises(StreamArchivedError):
                await log.append("job:a", [running(9)], ANY_VERSION)
            assert (await log.append("job:new", [running(9)], 0)).first_seq == 9
            assert (await log.verify(archives=True)).ok
        # Across the gaps the chain holds; the replay then names the first live stream's
        # first event, which no job's story starts with.
        audit = await cli("audit", "verify", "--db", url, "--archives")
        assert "FAILED (replay) at seq 2 (stream job:l, version 1)" in audit.out, audit.err
