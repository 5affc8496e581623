"""The jobs-by-phase counts on PostgreSQL (`job_phase_counts`, kept by statement triggers on
`job_summaries`) equal a count of the rows after any sequence of the writes the log makes:
appends whose upsert inserts and updates rows in one statement, rebuilds, repairs, retention,
copies; and the migration from schema 2 (row triggers) on a database with rows."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog.events import StatusObserved
from eventlog.postgres import PostgresEventLog
from eventlog.postgres.copy import copy_into
from eventlog.postgres.retention import archive_closed_streams_pg
from eventlog.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from eventlog.postgres.writer import UPSERT_SUMMARIES, columns
from eventlog.summaries import JobSummary
from eventlog.writes.summary_rows import draft, row_of
from tests import pg_support

PHASES = ("accepted", "running", "retry_wait", "succeeded", "dead")
JOBS = [f"j{n}" for n in range(6)]
COUNTED = "SELECT phase, jobs FROM job_phase_counts WHERE jobs <> 0"
TRUE_COUNTS = "SELECT phase, count(*) FROM job_summaries GROUP BY phase"


def summary(job: str, phase: str, *, position: int = 0) -> JobSummary:
    return JobSummary(
        job_id=job,
        datasource="wiki",
        interval="2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z",
        phase=phase,
        terminal=phase in ("succeeded", "dead"),
        attempt=1,
        max_attempts=3,
        position=position,
        changed_at=float(position),
    )


def event(n: int) -> StatusObserved:
    return StatusObserved(at=float(n), task_id="t", runner_status="RUNNING")


async def counts(conn: Any) -> tuple[dict[str, int], dict[str, int]]:
    """(the stored counts, the rows counted)."""
    stored = {str(p): int(n) for p, n in await conn.fetch(COUNTED)}
    truth = {str(p): int(n) for p, n in await conn.fetch(TRUE_COUNTS)}
    return stored, truth


# --- random sequences of writes ---------------------------------------------------------

phase = st.sampled_from(PHASES)
appends = st.builds(
    lambda moves: ("append", moves),
    st.dictionaries(st.sampled_from(JOBS), phase, min_size=1, max_size=len(JOBS)),
)
rebuilds = st.builds(lambda rows: ("rebuild", rows), st.dictionaries(st.sampled_from(JOBS), phase))
repairs = st.builds(lambda rows: ("repair", rows), st.dictionaries(st.sampled_from(JOBS), phase))
archives = st.builds(lambda job, p: ("archive", (job, p)), st.sampled_from(JOBS), phase)
operations = st.lists(st.one_of(appends, rebuilds, repairs, archives), min_size=1, max_size=8)


class Jobs:
    """The jobs' streams as the test wrote them: versions, and which were archived."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.archived: set[str] = set()

    def live(self, rows: dict[str, str]) -> dict[str, str]:
        return {job: p for job, p in rows.items() if job not in self.archived}


async def apply(log: PostgresEventLog, jobs: Jobs, op: tuple[str, Any], tmp: Path) -> None:
    kind, arg = op
    if kind == "append":
        # Concurrent appends go into one batch: one upsert that inserts the new jobs' rows
        # and updates the others' (both statement triggers fire for it).
        moves = jobs.live(arg)

        async def one(job: str, p: str) -> None:
            version = jobs.versions.get(job, 0)
            await log.append(f"job:{job}", [event(version)], version, summary=summary(job, p))
            jobs.versions[job] = version + 1

        await asyncio.gather(*(one(job, p) for job, p in moves.items()))
    elif kind == "rebuild":
        # Rows for some jobs (others' rows deleted, archived jobs' kept): what a fold gave.
        rows = [(f"job:{j}", summary(j, p, position=1)) for j, p in jobs.live(arg).items()]
        assert await log.rebuild_summaries(rows, await log.last_seq())
    elif kind == "repair":
        wanted = {f"job:{j}": summary(j, p, position=1) for j, p in jobs.live(arg).items()}
        await log.rebuild_summaries_holding_head(lambda _events: wanted)
    else:
        job, p = arg
        if job in jobs.archived:
            return
        version = jobs.versions.get(job, 0)
        await log.append(
            f"job:{job}", [event(version)], version, close_stream=True, summary=summary(job, p)
        )
        report = await archive_closed_streams_pg(
            log, older_than=float("inf"), directory=tmp, prefix=f"job:{job}"
        )
        assert report.streams == 1
        jobs.archived.add(job)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_the_counts_equal_the_rows_after_any_sequence_of_writes(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, Any]]
) -> None:
    tmp = tmp_path_factory.mktemp("archive")

    async def play() -> None:
        await pg_support.fresh_schema(pg_url)
        jobs = Jobs()
        conn = await asyncpg.connect(pg_url)
        try:
            async with PostgresEventLog(pg_url) as log:
                for n, op in enumerate(ops):
                    await apply(log, jobs, op, tmp)
                    stored, truth = await counts(conn)
                    assert stored == truth, f"after {ops[: n + 1]}"
                    assert await log.phase_counts() == truth
        finally:
            await conn.close()

    asyncio.run(play())


async def test_one_upsert_that_inserts_and_moves_rows_counts_each_row_once(
    pg_event_log: PostgresEventLog, pg_url: str
) -> None:
    log = pg_event_log
    for job in ("a", "b", "c"):
        await log.append(f"job:{job}", [event(0)], 0, summary=summary(job, "running"))
    await asyncio.gather(
        log.append("job:a", [event(1)], 1, summary=summary("a", "succeeded")),  # moved
        log.append("job:b", [event(1)], 1, summary=summary("b", "running")),  # kept
        log.append("job:d", [event(0)], 0, summary=summary("d", "running")),  # new
    )
    assert log.stats.batches == 4, "the three appends were not one batch (one upsert)"
    assert await log.phase_counts() == {"running": 3, "succeeded": 1}


async def test_a_copied_log_counts_its_summary_rows(pg_url: str) -> None:
    await pg_support.fresh_schema(pg_url)
    rows = [
        row_of(f"job:{j}", draft(summary(j, p)), 0, 0.0)
        for j, p in zip(JOBS, PHASES * 2, strict=False)
    ]
    assert (await copy_into(pg_url, [], [], rows)).ok
    async with PostgresEventLog(pg_url) as log:
        assert await log.phase_counts() == {
            "accepted": 2,
            "running": 1,
            "retry_wait": 1,
            "succeeded": 1,
            "dead": 1,
        }


# --- the migration from schema 2 ----------------------------------------------------------

CATALOG = (
    "SELECT tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
    "WHERE tgrelid = 'job_summaries'::regclass AND NOT tgisinternal ORDER BY tgname"
)
FUNCTIONS = (
    "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
    "ORDER BY proname"
)


async def schema_2(url: str) -> None:
    """The database at `url` as a druid-orchestrator of schema version 2 leaves it."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE orch_schema (version integer PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version in (1, 2):
            await conn.execute(MIGRATIONS[version - 1])
            await conn.execute("INSERT INTO orch_schema (version) VALUES ($1)", version)
    finally:
        await conn.close()


async def test_a_schema_2_log_with_rows_migrates_to_statement_counts_recounted(
    pg_url: str,
) -> None:
    await pg_support.fresh_schema(pg_url)
    await schema_2(pg_url)
    conn = await asyncpg.connect(pg_url)
    try:
        rows = [row_of(f"job:{j}", draft(summary(j, "running")), 1, 1.0) for j in JOBS]
        await conn.execute(UPSERT_SUMMARIES, *columns(rows, 9))
        moved = [row_of("job:j0", draft(summary("j0", "dead")), 2, 2.0)]
        await conn.execute(UPSERT_SUMMARIES, *columns(moved, 9))  # the old row triggers
        assert (await counts(conn))[0] == {"running": 5, "dead": 1}
        # A count gone wrong under the old schema is set right by the migration's recount.
        await conn.execute("UPDATE job_phase_counts SET jobs = jobs + 7")
        async with PostgresEventLog(pg_url) as log:
            assert await conn.fetchval("SELECT max(version) FROM orch_schema") == SCHEMA_VERSION
            assert await log.phase_counts() == {"running": 5, "dead": 1}
            await asyncio.gather(
                log.append("job:j1", [event(0)], 0, summary=summary("j1", "succeeded")),
                log.append("job:new", [event(0)], 0, summary=summary("new", "running")),
            )
            stored, truth = await counts(conn)
            assert stored == truth == {"running": 5, "dead": 1, "succeeded": 1}
        migrated = (list(await conn.fetch(CATALOG)), list(await conn.fetch(FUNCTIONS)))
    finally:
        await conn.close()
    assert [name for name, _ in migrated[0]] == [
        "job_summaries_deleted",
        "job_summaries_inserted",
        "job_summaries_updated",
    ]
    assert all("FOR EACH STATEMENT" in definition for _, definition in migrated[0])
    assert [name for name, _ in migrated[1]] == ["job_phase_delta"]
    # A new database gets the very same triggers and function.
    await pg_support.fresh_schema(pg_url)
    async with PostgresEventLog(pg_url):
        conn = await asyncpg.connect(pg_url)
        try:
            fresh = (list(await conn.fetch(CATALOG)), list(await conn.fetch(FUNCTIONS)))
        finally:
            await conn.close()
    assert fresh == migrated
