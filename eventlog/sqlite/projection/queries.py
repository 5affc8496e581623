"""Questions asked of `job_summaries`, each answered by an index range of bounded length.

Functions of a connection, so that the readers' thread (`eventlog.sqlite.reader`) and
offline tools (`eventlog.sqlite.offline`) ask them alike. Each runs in one read transaction.

Pages come in job id order (the id starts with the datasource and the interval's start, so
that is nearly the order a person reads them in). A page of some phases is one index range
per phase, `(phase, job_id)` or `(datasource, phase, job_id)`, each cut at the page's size and
merged: a page costs at most `phases x (limit + 1)` index entries, however many jobs the log
holds. The interval and time filters are checked on the rows of those ranges, at most
`SCAN_BUDGET` of them a page: a page with them may come back short, with the cursor of the
last row it read (`coverage` is the way to ask by interval in one go).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from eventlog.errors import SummariesNotBuiltError
from eventlog.sqlite.projection.schema import needs_rebuild
from eventlog.summaries import (
    MAX_COVERAGE,
    MAX_PAGE,
    SCAN_BUDGET,
    Changes,
    JobSummary,
    SummaryPage,
    SummaryQuery,
    decode_cursor,
    encode_cursor,
)
from eventlog.writes.summary_rows import COLUMNS, summary_of

# How many chunks before `from` a coverage query looks back for one that reaches into it.
_LOOK_BACK = 1000


def _built(conn: sqlite3.Connection) -> None:
    if needs_rebuild(conn):
        raise SummariesNotBuiltError(
            "the job summaries of this log are not built yet (it was written before they "
            "existed): the orchestrator builds them when it starts, or run "
            "`druid-orch audit rebuild-summaries`"
        )


def _phases_of(conn: sqlite3.Connection, datasource: str | None) -> list[str]:
    """The phases present (of one datasource): a skip over the index, one probe per phase."""
    found: list[str] = []
    sql = (
        "SELECT phase FROM job_summaries WHERE phase > ? ORDER BY phase LIMIT 1"
        if datasource is None
        else "SELECT phase FROM job_summaries WHERE datasource = ? AND phase > ? "
        "ORDER BY phase LIMIT 1"
    )
    last = ""
    while True:
        params = (last,) if datasource is None else (datasource, last)
        row = conn.execute(sql, params).fetchone()
        if row is None:
            return found
        last = str(row[0])
        found.append(last)


def page(conn: sqlite3.Connection, query: SummaryQuery) -> SummaryPage:
    """One page of the jobs `query` selects, and the cursor of the next.

    Raises:
        SummariesNotBuiltError: the table awaits its first fill.
        CursorError: `query.after` is not a cursor this log handed out.
        ValueError: more job ids than a page holds.
    """
    limit = query.bounded_limit()
    after = decode_cursor(query.after) if query.after is not None else ""
    scanned = query.overlaps is not None or query.changed_since is not None
    take = max(limit + 1, SCAN_BUDGET) if scanned and not query.job_ids else limit + 1
    conn.execute("BEGIN")
    try:
        _built(conn)
        rows = _page_rows(conn, query, after, take)
    finally:
        conn.execute("COMMIT")
    hits = [r for r in rows if _matches(r, query)] if scanned else rows
    jobs = [summary_of(r) for r in hits[:limit]]
    if len(hits) > limit:
        return SummaryPage(jobs, encode_cursor(jobs[-1].job_id))
    if len(rows) == take and take > limit + 1:  # the scan budget ran out before the page
        return SummaryPage(jobs, encode_cursor(str(rows[-1][0])))
    return SummaryPage(jobs, None)


def _matches(row: Any, query: SummaryQuery) -> bool:
    """The interval and time filters, on a row of `SELECT {COLUMNS}` (ISO instants compare
    as text, as in the index)."""
    if query.overlaps is not None and not (
        row[3] < query.overlaps[1] and row[4] > query.overlaps[0]
    ):
        return False
    return query.changed_since is None or row[7] >= query.changed_since


def _page_rows(conn: sqlite3.Connection, query: SummaryQuery, after: str, take: int) -> list[Any]:
    """The rows of the page's index ranges after `after`, at most `take`, with the phase and
    datasource filters applied (the interval and time filters are the caller's)."""
    residual = ""
    extra: list[Any] = []
    if query.job_ids and query.overlaps is not None:
        residual += " AND interval_start < ? AND interval_end > ?"
        extra += [query.overlaps[1], query.overlaps[0]]
    if query.job_ids and query.changed_since is not None:
        residual += " AND changed_at >= ?"
        extra.append(query.changed_since)
    if query.datasource is not None:
        residual += " AND datasource = ?"
        extra.append(query.datasource)
    if query.job_ids:
        if len(query.job_ids) > MAX_PAGE:
            raise ValueError(f"at most {MAX_PAGE} job ids a page, not {len(query.job_ids)}")
        marks = ", ".join("?" * len(query.job_ids))
        sql = (
            f"SELECT {COLUMNS} FROM job_summaries WHERE job_id IN ({marks}) AND job_id > ?"
            f"{residual} ORDER BY job_id LIMIT ?"
        )
        rows = conn.execute(sql, [*query.job_ids, after, *extra, take]).fetchall()
        if query.phases:
            rows = [r for r in rows if r[5] in query.phases]
        return rows
    if not query.phases and query.datasource is None:
        sql = (
            f"SELECT {COLUMNS} FROM job_summaries WHERE job_id > ?{residual} "
            "ORDER BY job_id LIMIT ?"
        )
        return conn.execute(sql, [after, *extra, take]).fetchall()
    phases = list(query.phases) or _phases_of(conn, query.datasource)
    if not phases:
        return []
    one = (
        f"SELECT * FROM (SELECT {COLUMNS} FROM job_summaries WHERE phase = ? AND job_id > ?"
        f"{residual} ORDER BY job_id LIMIT ?)"
    )
    sql = " UNION ALL ".join([one] * len(phases)) + " ORDER BY job_id LIMIT ?"
    params: list[Any] = []
    for phase in phases:
        params += [phase, after, *extra, take]
    return conn.execute(sql, [*params, take]).fetchall()


def one(conn: sqlite3.Connection, job_id: str) -> JobSummary | None:
    """The summary of `job_id`, or None if the log never recorded it."""
    _built(conn)
    row = conn.execute(
        f"SELECT {COLUMNS} FROM job_summaries WHERE job_id = ?", (job_id,)
    ).fetchone()
    return summary_of(row) if row is not None else None


def changes(conn: sqlite3.Connection, after: int, limit: int) -> Changes:
    """Summaries whose position is after `after`, oldest first: a job changed several times
    since appears once, as it is now (the feed is compacted, like the table)."""
    _built(conn)
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM job_summaries WHERE position > ? ORDER BY position LIMIT ?",
        (after, max(1, min(limit, MAX_PAGE))),
    ).fetchall()
    jobs = [summary_of(r) for r in rows]
    return Changes(jobs, jobs[-1].position if jobs else after)


def coverage(
    conn: sqlite3.Connection, datasource: str, start: str | None, end: str | None
) -> list[JobSummary]:
    """The jobs of `datasource` whose interval overlaps `start/end`, by interval start; an
    open end is the datasource's first or last job.

    Those starting inside are one index range; one that starts before `start` and reaches
    into it is looked for among the `_LOOK_BACK` chunks before it.
    """
    conn.execute("BEGIN")
    try:
        _built(conn)
        if start is None:
            first = conn.execute(
                "SELECT interval_start FROM job_summaries WHERE datasource = ? "
                "ORDER BY interval_start LIMIT 1",
                (datasource,),
            ).fetchone()
            start = str(first[0]) if first is not None else ""
        if end is None:
            end = "\uffff"  # after every instant
        # The look-back reads the interval index alone (it covers start and end); only the
        # rows that reach into the span are fetched whole.
        earlier = conn.execute(
            f"SELECT {COLUMNS} FROM job_summaries WHERE job_id IN (SELECT job_id FROM "
            "(SELECT job_id, interval_end FROM job_summaries WHERE datasource = ? AND "
            "interval_start < ? ORDER BY interval_start DESC LIMIT ?) WHERE interval_end > ?)",
            (datasource, start, _LOOK_BACK, start),
        ).fetchall()
        inside = conn.execute(
            f"SELECT {COLUMNS} FROM job_summaries WHERE datasource = ? AND interval_start >= ? "
            "AND interval_start < ? ORDER BY interval_start LIMIT ?",
            (datasource, start, end, MAX_COVERAGE),
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    rows = sorted(earlier, key=lambda r: str(r[3])) + inside
    return [summary_of(r) for r in rows[:MAX_COVERAGE]]


def phase_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """How many jobs are in each phase (every job ever recorded; archived ones too)."""
    _built(conn)
    rows = conn.execute("SELECT phase, jobs FROM job_phase_counts WHERE jobs > 0").fetchall()
    return {str(p): int(n) for p, n in rows}


def counted_phases(conn: sqlite3.Connection) -> dict[str, int]:
    """The jobs in each phase counted from the rows: a scan, for audits only."""
    rows = conn.execute("SELECT phase, count(*) FROM job_summaries GROUP BY phase").fetchall()
    return {str(p): int(n) for p, n in rows}


def checkable_rows(conn: sqlite3.Connection) -> Iterator[tuple[str, JobSummary]]:
    """Every row whose stream's events are in the log (not archived), with its stream id."""
    for row in conn.execute(
        f"SELECT {COLUMNS} FROM job_summaries WHERE stream_id NOT IN "
        "(SELECT stream_id FROM streams WHERE archived_at IS NOT NULL) ORDER BY job_id"
    ):
        yield str(row[1]), summary_of(row)
