"""Questions asked of the PostgreSQL `job_summaries` table, each an index range of bounded
length: the same questions, bounds and order as `eventlog.sqlite.projection.queries`.

Each takes a connection and runs in one read transaction (REPEATABLE READ, so a page's
several ranges see one moment of the log).
"""

from __future__ import annotations

from typing import Any

from eventlog.errors import SummariesNotBuiltError
from eventlog.summaries import (
    MAX_COVERAGE,
    MAX_PAGE,
    Changes,
    JobSummary,
    SummaryPage,
    SummaryQuery,
    decode_cursor,
    encode_cursor,
)
from eventlog.writes.summary_rows import COLUMNS, summary_of

REBUILD_KEY = "summaries"
# Every row whose job's events are in the log, with its stream id, by job id: what an audit
# compares with the fold (archived jobs keep their rows, still listed, but not their events).
CHECKABLE = (
    f"SELECT stream_id, {COLUMNS} FROM job_summaries WHERE stream_id NOT IN "
    "(SELECT stream_id FROM streams WHERE archived_at IS NOT NULL) ORDER BY job_id"
)
EVENTS = "SELECT seq, stream_id, version, recorded_at, body FROM events ORDER BY seq"
_LOOK_BACK = 1000


async def needs_rebuild(conn: Any) -> bool:
    return bool(await conn.fetchval("SELECT count(*) FROM meta WHERE key = $1", REBUILD_KEY))


async def _built(conn: Any) -> None:
    if await needs_rebuild(conn):
        raise SummariesNotBuiltError(
            "the job summaries of this log are not built yet: the orchestrator builds them "
            "when it starts, or run `druid-orch audit rebuild-summaries`"
        )


class _Params:
    """Positional parameters, numbered as they are added."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


async def _phases_of(conn: Any, datasource: str | None) -> list[str]:
    found: list[str] = []
    last = ""
    while True:
        if datasource is None:
            row = await conn.fetchval(
                "SELECT phase FROM job_summaries WHERE phase > $1 ORDER BY phase LIMIT 1", last
            )
        else:
            row = await conn.fetchval(
                "SELECT phase FROM job_summaries WHERE datasource = $1 AND phase > $2 "
                "ORDER BY phase LIMIT 1",
                datasource,
                last,
            )
        if row is None:
            return found
        last = str(row)
        found.append(last)


async def page(conn: Any, query: SummaryQuery) -> SummaryPage:
    """One page of the jobs `query` selects, and the cursor of the next."""
    limit = query.bounded_limit()
    after = decode_cursor(query.after) if query.after is not None else ""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await _built(conn)
        rows = await _page_rows(conn, query, after, limit + 1)
    jobs = [summary_of(r) for r in rows[:limit]]
    return SummaryPage(jobs, encode_cursor(jobs[-1].job_id) if len(rows) > limit else None)


def _residual(query: SummaryQuery, p: _Params) -> str:
    residual = ""
    if query.overlaps is not None:
        residual += f" AND interval_start < {p(query.overlaps[1])} AND interval_end > "
        residual += p(query.overlaps[0])
    if query.changed_since is not None:
        residual += f" AND changed_at >= {p(query.changed_since)}"
    if query.datasource is not None:
        residual += f" AND datasource = {p(query.datasource)}"
    return residual


async def _page_rows(conn: Any, query: SummaryQuery, after: str, take: int) -> list[Any]:
    p = _Params()
    if query.job_ids:
        if len(query.job_ids) > MAX_PAGE:
            raise ValueError(f"at most {MAX_PAGE} job ids a page, not {len(query.job_ids)}")
        sql = (
            f"SELECT {COLUMNS} FROM job_summaries WHERE job_id = ANY({p(list(query.job_ids))}) "
            f"AND job_id > {p(after)}{_residual(query, p)} ORDER BY job_id LIMIT {p(take)}"
        )
        rows = list(await conn.fetch(sql, *p.values))
        if query.phases:
            rows = [r for r in rows if r[5] in query.phases]
        return rows
    if not query.phases and query.datasource is None:
        sql = (
            f"SELECT {COLUMNS} FROM job_summaries WHERE job_id > {p(after)}"
            f"{_residual(query, p)} ORDER BY job_id LIMIT {p(take)}"
        )
        return list(await conn.fetch(sql, *p.values))
    phases = list(query.phases) or await _phases_of(conn, query.datasource)
    if not phases:
        return []
    parts = [
        f"(SELECT {COLUMNS} FROM job_summaries WHERE phase = {p(phase)} AND job_id > {p(after)}"
        f"{_residual(query, p)} ORDER BY job_id LIMIT {p(take)})"
        for phase in phases
    ]
    merged = " UNION ALL ".join(parts)
    sql = f"SELECT * FROM ({merged}) m ORDER BY job_id LIMIT {p(take)}"
    return list(await conn.fetch(sql, *p.values))


async def one(conn: Any, job_id: str) -> JobSummary | None:
    await _built(conn)
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM job_summaries WHERE job_id = $1", job_id)
    return summary_of(row) if row is not None else None


async def changes(conn: Any, after: int, limit: int) -> Changes:
    await _built(conn)
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM job_summaries WHERE position > $1 ORDER BY position LIMIT $2",
        after,
        max(1, min(limit, MAX_PAGE)),
    )
    jobs = [summary_of(r) for r in rows]
    return Changes(jobs, jobs[-1].position if jobs else after)


async def coverage(
    conn: Any, datasource: str, start: str | None, end: str | None
) -> list[JobSummary]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await _built(conn)
        if start is None:
            first = await conn.fetchval(
                "SELECT interval_start FROM job_summaries WHERE datasource = $1 "
                "ORDER BY interval_start LIMIT 1",
                datasource,
            )
            start = str(first) if first is not None else ""
        if end is None:
            end = "\uffff"
        earlier = await conn.fetch(
            f"SELECT {COLUMNS} FROM job_summaries WHERE job_id IN (SELECT job_id FROM "
            "(SELECT job_id, interval_end FROM job_summaries WHERE datasource = $1 AND "
            "interval_start < $2 ORDER BY interval_start DESC LIMIT $3) w "
            "WHERE interval_end > $2)",
            datasource,
            start,
            _LOOK_BACK,
        )
        inside = await conn.fetch(
            f"SELECT {COLUMNS} FROM job_summaries WHERE datasource = $1 AND interval_start >= $2 "
            "AND interval_start < $3 ORDER BY interval_start LIMIT $4",
            datasource,
            start,
            end,
            MAX_COVERAGE,
        )
    rows = sorted(earlier, key=lambda r: str(r[3])) + list(inside)
    return [summary_of(r) for r in rows[:MAX_COVERAGE]]


async def phase_counts(conn: Any) -> dict[str, int]:
    await _built(conn)
    rows = await conn.fetch("SELECT phase, jobs FROM job_phase_counts WHERE jobs > 0")
    return {str(p): int(n) for p, n in rows}
