"""The read model rebuilt beside a running leader (`druid-orch audit rebuild-summaries`).

One transaction holds the head row, which every append batch takes first, from the read of
the events to the write: the leader's appends wait for the fold instead of making it start
again (the optimistic `PostgresEventLog.rebuild_summaries` never finishes beside a leader
that appends all the time), and none can fall between the fold and the write. Only the rows
that differ from the fold are written, so the appends wait for a read and a fold rather than
for every row rewritten. The jobs-by-phase counts follow the rows by their triggers; they are
still counted afresh here, since this repair is also what mends counts edited by hand (the
audit reports them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from eventlog.decoding import decode_row
from eventlog.errors import CorruptEventError
from eventlog.postgres import summaries
from eventlog.postgres.writer import UPSERT_SUMMARIES, columns
from eventlog.records import Recorded
from eventlog.summaries import JobSummary
from eventlog.writes.summary_rows import draft, row_of, summary_of

Fold = Callable[[Iterator[Recorded]], dict[str, JobSummary]]


async def repair_summaries(conn: Any, fold: Fold) -> int:
    """Make every row (archived jobs' excepted) equal `fold` of every event; the rows the
    fold gives."""
    async with conn.transaction():
        await conn.execute("SELECT seq FROM head WHERE id = 1 FOR UPDATE")
        events = [tuple(r) async for r in conn.cursor(summaries.EVENTS, prefetch=5000)]
        folded = fold(decode_row(r) for r in events)
        stored = {str(r[1]): tuple(r) for r in await conn.fetch(summaries.CHECKABLE)}
        wrong = [
            row_of(sid, draft(want), want.position, want.changed_at)
            for sid, want in folded.items()
            if not _holds(stored.pop(want.job_id, None), sid, want)
        ]
        if stored:  # rows of jobs that have no events
            await conn.execute(
                "DELETE FROM job_summaries WHERE job_id = ANY($1::text[])", list(stored)
            )
        if wrong:
            await conn.execute(UPSERT_SUMMARIES, *columns(wrong, 9))
        await conn.execute("DELETE FROM job_phase_counts")
        await conn.execute(
            "INSERT INTO job_phase_counts SELECT phase, count(*) FROM job_summaries GROUP BY phase"
        )
        await conn.execute("DELETE FROM meta WHERE key = $1", summaries.REBUILD_KEY)
    return len(folded)


def _holds(row: tuple[Any, ...] | None, stream_id: str, want: JobSummary) -> bool:
    """Whether the stored `row` (stream id first) is the one the fold gives."""
    if row is None or row[0] != stream_id:
        return False
    try:
        return bool(summary_of(row[1:]) == want)
    except CorruptEventError:  # a body edited into something else: rewritten
        return False
