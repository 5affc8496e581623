"""Questions about jobs, answered from the read model, never by replaying the log.

The log's job summaries (`eventlog.summaries`) hold every job ever recorded, as of its last
recorded transition, written in the same transaction as the events. What they cannot hold is
live: why a job's next submission waits right now (a paused datasource, an open breaker, the
slot gate). For a live job that reason is taken from memory (`JobBoard.view`) and laid over
its row; everything else shown, and everything filtered on, is the row's, so a list and a
look at one job never disagree, and looking never changes what a list shows.
"""

from __future__ import annotations

import msgspec

from actors.board import JobBoard
from actors.job.summary import view_of
from actors.job.view import JobView
from eventlog.contract import EventLog
from eventlog.summaries import DEFAULT_PAGE, JobSummary, SummaryQuery

_Cell = tuple[str, str, str, float | None]  # (interval, phase, job_id, accepted_at)


class JobPage(msgspec.Struct, frozen=True):
    """A page of jobs and the cursor of the next (None on the last page)."""

    jobs: list[JobView]
    next: str | None = None


class JobChanges(msgspec.Struct, frozen=True):
    """Jobs changed after a log position, and the position to ask after next."""

    jobs: list[JobView]
    position: int


class JobQueries:
    def __init__(self, log: EventLog, board: JobBoard) -> None:
        self.log = log
        self.board = board
        self._cells: tuple[tuple[str, str | None, str | None], int, list[_Cell]] | None = None

    def view(self, summary: JobSummary) -> JobView:
        """The row as users see it, with a live job's current hold reason."""
        state = self.board.states.get(summary.job_id)
        if state is None or summary.terminal:
            return view_of(summary)
        return view_of(summary, self.board.view(state).held)

    async def page(self, query: SummaryQuery) -> JobPage:
        found = await self.log.job_summaries(query)
        return JobPage([self.view(s) for s in found.jobs], found.next)

    async def one(self, job_id: str) -> JobView | None:
        found = await self.log.job_summary(job_id)
        return self.view(found) if found is not None else None

    async def changes(
        self, after: int, *, limit: int = DEFAULT_PAGE, wait_s: float = 0.0
    ) -> JobChanges:
        found = await self.log.summary_changes(after, limit=limit, wait_s=wait_s)
        return JobChanges([self.view(s) for s in found.jobs], found.position)

    async def coverage(
        self, datasource: str, start: str | None = None, end: str | None = None
    ) -> list[JobView]:
        return [self.view(s) for s in await self.log.coverage(datasource, start, end)]

    async def coverage_cells(
        self, datasource: str, start: str | None = None, end: str | None = None
    ) -> list[_Cell]:
        """`coverage` as a calendar draws it: `(interval, phase, job_id, accepted_at)` taken
        straight from the rows. No job view is built (a live job's hold reason is not drawn):
        for 10,000 chunks that was a third of the answer's time."""
        # Kept while the log's head stays where it was: every change to a summary is written
        # with an event, so the same head means the same rows (a finished backfill's calendar,
        # opened again, is answered without reading 10,000 rows). The head is read first: an
        # append racing the read leaves a newer answer under an older head, asked again next.
        head = await self.log.last_seq()
        key = (datasource, start, end)
        if self._cells is not None and self._cells[:2] == (key, head):
            return self._cells[2]
        found = await self.log.coverage(datasource, start, end)
        rows = [(s.interval, s.phase, s.job_id, s.accepted_at) for s in found]
        self._cells = (key, head, rows)
        return rows

    async def phase_counts(self) -> dict[str, int]:
        return await self.log.phase_counts()
