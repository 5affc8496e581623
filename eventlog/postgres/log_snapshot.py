"""The whole PostgreSQL log as one moment saw it, for `audit verify` beside a running leader.

The chain walk, the events and the summary rows are read in one REPEATABLE READ transaction:
a leader appending meanwhile (it writes each summary row in its append's transaction) can
neither show a row newer than the events folded nor an event the walk did not see. The
events are kept as raw rows and decoded as they are iterated, so the two passes an audit
makes (the FSM replay, then the fold the rows are compared with) hold one copy in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eventlog.chain_report import ChainReport
from eventlog.decoding import Row, decode_row
from eventlog.postgres import summaries
from eventlog.postgres.verify import verify
from eventlog.records import Recorded
from eventlog.summaries import JobSummary
from eventlog.writes.summary_rows import summary_of


class LogSnapshot:
    """The chain report, events, summary rows and phase counts of one moment of the log."""

    def __init__(
        self,
        chain: ChainReport,
        events: list[Row],
        built: bool,
        rows: list[Any],
        counts: tuple[dict[str, int], dict[str, int]],
    ) -> None:
        self.chain = chain
        self.built = built  # False: a log migrated to the read model, not filled yet
        self.counts = counts  # (stored jobs-by-phase counts, counted from every row)
        self._events = events
        self._rows = rows

    def records(self) -> Iterator[Recorded]:
        """Every event in seq order (`CorruptEventError` naming the seq of an undecodable one)."""
        return (decode_row(row) for row in self._events)

    def summaries(self) -> Iterator[tuple[str, JobSummary]]:
        """`(stream id, row)` of every job whose events are in the log, by job id
        (`CorruptEventError` for a row whose body is not a summary)."""
        return ((str(row[0]), summary_of(tuple(row)[1:])) for row in self._rows)


async def read_snapshot(conn: Any, where: str, *, archives: bool = False) -> LogSnapshot:
    """Everything `audit verify` checks, read on `conn` in one snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        chain = await verify(conn, where, archives=archives)
        events = [tuple(r) async for r in conn.cursor(summaries.EVENTS, prefetch=5000)]
        built = not await summaries.needs_rebuild(conn)
        rows = list(await conn.fetch(summaries.CHECKABLE)) if built else []
        stored = await conn.fetch("SELECT phase, jobs FROM job_phase_counts WHERE jobs > 0")
        counted = await conn.fetch("SELECT phase, count(*) FROM job_summaries GROUP BY phase")
    return LogSnapshot(
        chain,
        events,
        built,
        rows,
        ({str(p): int(n) for p, n in stored}, {str(p): int(n) for p, n in counted}),
    )
