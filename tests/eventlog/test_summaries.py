"""The read model in the log: summaries written with their events, and bounded queries."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from msgspec.structs import replace

from eventlog.errors import ConcurrencyConflictError, SummariesNotBuiltError
from eventlog.events import StatusObserved
from eventlog.sqlite.offline import OfflineLog
from eventlog.sqlite.projection.schema import MARK_FOR_REBUILD, SCHEMA_4_COUNT_TRIGGERS
from eventlog.sqlite.store import SQLiteEventLog
from eventlog.summaries import (
    MAX_PAGE,
    CursorError,
    JobSummary,
    SummaryQuery,
    encode_cursor,
)


def summary(job: str, phase: str = "running", *, ds: str = "wiki", day: int = 1) -> JobSummary:
    return JobSummary(
        job_id=job,
        datasource=ds,
        interval=f"2024-01-{day:02d}T00:00:00.000Z/2024-01-{day + 1:02d}T00:00:00.000Z",
        phase=phase,
        terminal=phase in ("succeeded", "dead", "cancelled"),
        attempt=1,
        max_attempts=3,
        last_error="x" * 2000 if phase == "dead" else None,
    )


def event(n: int) -> StatusObserved:
    return StatusObserved(at=float(n), task_id="t", runner_status="RUNNING")


async def test_a_summary_is_written_with_its_events_and_stamped_with_their_place(
    event_log: SQLiteEventLog,
) -> None:
    log = event_log  # with a writer process and a writer thread: the summary crosses both
    await log.append("job:a", [event(1), event(2)], 0, summary=summary("a", "accepted"))
    found = await log.job_summary("a")
    assert found is not None
    assert found == replace(summary("a", "accepted"), position=2, changed_at=found.changed_at)
    assert found.changed_at == (await log.read_stream("job:a"))[-1].recorded_at
    with pytest.raises(ConcurrencyConflictError):
        await log.append("job:a", [event(3)], 0, summary=summary("a", "succeeded"))
    unchanged = await log.job_summary("a")
    assert unchanged == found, "a refused append wrote its summary"
    await log.append("job:a", [event(3)], 2, summary=summary("a", "dead"))
    dead = await log.job_summary("a")
    assert dead is not None
    assert (dead.phase, dead.position, dead.terminal) == ("dead", 3, True)
    assert dead.last_error == "x" * 500, "the row keeps an excerpt of the error"
    assert await log.job_summary("nobody") is None


async def test_pages_follow_their_cursor_through_every_job_once_per_filter(
    tmp_path: Path,
) -> None:
    async with SQLiteEventLog(tmp_path / "e.db", writer="thread") as log:
        phases = ["running", "succeeded", "dead", "retry_wait"]
        for n in range(60):
            job = f"job{n:03d}"
            ds = "wiki" if n % 3 else "koala"
            s = summary(job, phases[n % 4], ds=ds, day=1 + n % 20)
            await log.append(f"job:{job}", [event(n)], 0, summary=s)

        async def walk(query: SummaryQuery) -> list[str]:
            seen: list[str] = []
            page = await log.job_summaries(query)
            while True:
                assert len(page.jobs) <= query.limit
                seen += [s.job_id for s in page.jobs]
                if page.next is None:
                    return seen
                page = await log.job_summaries(replace(query, after=page.next))

        everything = await walk(SummaryQuery(limit=7))
        assert everything == sorted(f"job{n:03d}" for n in range(60))
        dead_or_waiting = await walk(SummaryQuery(phases=("dead", "retry_wait"), limit=4))
        assert dead_or_waiting == [f"job{n:03d}" for n in range(60) if n % 4 in (2, 3)]
        koala = await walk(SummaryQuery(datasource="koala", limit=5))
        assert koala == [f"job{n:03d}" for n in range(60) if n % 3 == 0]
        koala_running = await walk(SummaryQuery(datasource="koala", phases=("running",), limit=2))
        assert koala_running == [f"job{n:03d}" for n in range(60) if n % 3 == 0 and n % 4 == 0]
        jan5 = await walk(
            SummaryQuery(overlaps=("2024-01-05T00:00:00.000Z", "2024-01-06T00:00:00.000Z"))
        )
        assert jan5 == [f"job{n:03d}" for n in range(60) if 1 + n % 20 == 5]
        some = await walk(SummaryQuery(job_ids=("job007", "job003", "nope"), limit=1))
        assert some == ["job003", "job007"]
        huge = await log.job_summaries(SummaryQuery(limit=10**6))
        assert len(huge.jobs) == 60
        assert huge.next is None
        assert SummaryQuery(limit=10**6).bounded_limit() == MAX_PAGE
        with pytest.raises(CursorError):
            await log.job_summaries(SummaryQuery(after="not-a-cursor"))
        assert (await log.job_summaries(SummaryQuery(after=encode_cursor("job058")))).jobs[
            0
        ].job_id == "job059"
        assert await log.phase_counts() == {
            "running": 15,
            "succeeded": 15,
            "dead": 15,
            "retry_wait": 15,
        }


async def test_a_page_filtered_by_interval_or_time_reads_at_most_its_scan_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eventlog.sqlite.projection.queries.SCAN_BUDGET", 10)
    async with SQLiteEventLog(tmp_path / "e.db", writer="thread") as log:
        for n in range(60):
            s = summary(f"job{n:03d}", "succeeded", day=1 + n % 20)
            await log.append(f"job:job{n:03d}", [event(n)], 0, summary=s)
        query = SummaryQuery(
            overlaps=("2024-01-05T00:00:00.000Z", "2024-01-06T00:00:00.000Z"), limit=3
        )
        pages = [await log.job_summaries(query)]
        while pages[-1].next is not None:
            pages.append(await log.job_summaries(replace(query, after=pages[-1].next)))
        found = [s.job_id for page in pages for s in page.jobs]
        assert found == ["job004", "job024", "job044"]
        # 60 rows read 10 at a time: each page stops at its budget, short, and says where.
        assert len(pages) == 7
        assert [len(page.jobs) for page in pages] == [1, 0, 1, 0, 1, 0, 0]
        late = await log.job_summaries(SummaryQuery(changed_since=1e12, limit=3))
        assert (late.jobs, late.next is not None) == ([], True)


async def test_the_change_feed_gives_each_changed_job_once_and_waits_for_the_next(
    tmp_path: Path,
) -> None:
    async with SQLiteEventLog(tmp_path / "e.db", writer="thread") as log:
        await log.append("job:a", [event(1)], 0, summary=summary("a", "accepted"))
        await log.append("job:b", [event(2)], 0, summary=summary("b", "accepted"))
        await log.append("job:a", [event(3)], 1, summary=summary("a", "running"))
        changes = await log.summary_changes(0)
        assert [(s.job_id, s.phase, s.position) for s in changes.jobs] == [
            ("b", "accepted", 2),
            ("a", "running", 3),
        ]
        assert changes.position == 3
        assert (await log.summary_changes(3)).jobs == []
        waiting = asyncio.ensure_future(log.summary_changes(3, wait_s=30))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await log.append("job:b", [event(4)], 1, summary=summary("b", "succeeded"))
        woke = await asyncio.wait_for(waiting, 5)
        assert [(s.job_id, s.phase) for s in woke.jobs] == [("b", "succeeded")]
        nothing = await log.summary_changes(4, wait_s=0.05)
        assert (nothing.jobs, nothing.position) == ([], 4)


async def test_coverage_finds_the_jobs_overlapping_a_range_by_interval(tmp_path: Path) -> None:
    async with SQLiteEventLog(tmp_path / "e.db", writer="thread") as log:
        for day in range(1, 20):
            await log.append(
                f"job:w{day}", [event(day)], 0, summary=summary(f"w{day}", "succeeded", day=day)
            )
        await log.append("job:k", [event(0)], 0, summary=summary("k", "dead", ds="koala", day=3))
        long = replace(
            summary("long"), interval="2023-12-01T00:00:00.000Z/2024-01-04T00:00:00.000Z"
        )
        await log.append("job:long", [event(0)], 0, summary=long)
        found = await log.coverage("wiki", "2024-01-03T00:00:00.000Z", "2024-01-06T00:00:00.000Z")
        assert [s.job_id for s in found] == ["long", "w3", "w4", "w5"]


async def test_a_migrated_log_refuses_summary_queries_until_they_are_built(
    tmp_path: Path,
) -> None:
    db = tmp_path / "e.db"
    async with SQLiteEventLog(db, writer="thread") as log:
        await log.append("job:a", [event(1)], 0)
    conn = sqlite3.connect(db)
    conn.executescript(MARK_FOR_REBUILD)
    conn.close()
    async with SQLiteEventLog(db, writer="thread") as log:
        assert await log.summaries_need_rebuild()
        with pytest.raises(SummariesNotBuiltError, match="rebuild-summaries"):
            await log.job_summaries(SummaryQuery())
        stamped = replace(summary("a", "accepted"), position=1)
        assert not await log.rebuild_summaries([("job:a", stamped)], through_seq=0)
        assert await log.rebuild_summaries([("job:a", stamped)], through_seq=1)
        assert not await log.summaries_need_rebuild()
        assert (await log.job_summaries(SummaryQuery())).jobs == [stamped]
    with OfflineLog.open(db) as offline:
        assert offline.job_summary("a") == stamped
        assert list(offline.checkable_summaries()) == [("job:a", stamped)]


# The count triggers of schema 4, as a schema-4 file holds them.


async def test_a_schema_4_file_loses_its_count_triggers_and_is_counted_afresh(
    tmp_path: Path,
) -> None:
    db = tmp_path / "e.db"
    async with SQLiteEventLog(db) as log:
        for n in range(6):
            await log.append(f"job:j{n}", [event(n)], 0, summary=summary(f"j{n}", "running"))
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript(SCHEMA_4_COUNT_TRIGGERS)
    # Counts that drifted (or were edited): the upgrade must not keep them.
    conn.execute("UPDATE job_phase_counts SET jobs = 99")
    conn.execute("PRAGMA user_version = 4")
    conn.close()

    def triggers() -> list[str]:
        conn = sqlite3.connect(db)
        try:
            found = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            return sorted(str(name) for (name,) in found if "summaries" in name)
        finally:
            conn.close()

    assert len(triggers()) == 3
    async with SQLiteEventLog(db) as log:  # the writer process: Reload crosses it
        assert triggers() == []
        assert await log.phase_counts() == {"running": 6}
        await log.append("job:j0", [event(9)], 1, summary=summary("j0", "succeeded"))
        await log.append("job:j9", [event(9)], 0, summary=summary("j9", "dead"))
        assert await log.phase_counts() == {"running": 5, "succeeded": 1, "dead": 1}
        # A rebuild deletes and rewrites the rows on the log's own connection; the writer's
        # cache of phases must not outlive it.
        rebuilt = [
            (f"job:j{n}", replace(summary(f"j{n}", "waiting"), position=n + 1)) for n in range(3)
        ]
        assert await log.rebuild_summaries(rebuilt, 8)
        assert await log.phase_counts() == {"waiting": 3}
        await log.append("job:j0", [event(10)], 2, summary=summary("j0", "running"))
        await log.append("job:j5", [event(10)], 1, summary=summary("j5", "running"))
        assert await log.phase_counts() == {"waiting": 2, "running": 2}
    with OfflineLog.open(db) as offline:
        assert offline.phase_counts() == offline.counted_phases() == {"waiting": 2, "running": 2}


async def test_retention_keeps_archived_jobs_in_the_change_feed_and_the_counts(
    tmp_path: Path,
) -> None:
    """The feed is by the rows' positions, not the events': a job whose events were archived
    is still in it (which is why `job_summaries_position` stays), and the counts stay exact
    across the writer's pause for retention."""
    from eventlog.retention.closed_streams import archive_closed_streams

    async with SQLiteEventLog(tmp_path / "e.db") as log:
        await log.append("job:a", [event(1)], 0, summary=summary("a", "running"))
        await log.append("job:a", [event(2)], 1, close_stream=True, summary=summary("a", "dead"))
        await log.append("job:b", [event(3)], 0, summary=summary("b", "running"))
        report = await archive_closed_streams(
            log, older_than=time.time() + 60, directory=tmp_path / "arch"
        )
        assert len(report.archives) == 1
        assert await log.read_stream("job:a") == []
        feed = await log.summary_changes(0)
        assert [(j.job_id, j.position) for j in feed.jobs] == [("a", 2), ("b", 3)]
        assert (await log.summary_changes(1)).jobs[0].job_id == "a"
        await log.append("job:b", [event(4)], 1, summary=summary("b", "succeeded"))
        assert await log.phase_counts() == {"dead": 1, "succeeded": 1}
