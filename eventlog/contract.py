"""The event log as the actors and the service see it: the contract every backend fulfils.

The SQLite backend (`eventlog.sqlite.SQLiteEventLog`) is the reference; a second backend
(PostgreSQL, issue 23) implements the same methods with the same guarantees:

* **Streams and versions.** Every event belongs to one stream; a stream's versions count up
  from 1 with no gap. An append names the version it expects and fails alone, with nothing
  written, if the stream is elsewhere.
* **Durability on return.** An append or snapshot that returns is committed for good; one
  that raised `WriterLostError` may or may not be (the stream's version tells), and a retry
  with the same expected version is safe. Every other error means nothing was written.
* **One global order.** Every event gets a `seq`, increasing in commit order, and each is
  hash-chained to its predecessor, so `verify` can prove the log was not edited.
* **Closed streams** are skipped at boot (`open_streams`) and may be archived by retention;
  an archived stream takes no new events (`StreamArchivedError`).
* **Snapshots are an optimisation only**: a backend may drop any of them at any time.
* **Job summaries are written with their events.** An append that carries a `summary` writes
  it in its own transaction, stamped with the append's last seq (`position`) and commit
  time, so the read model is never behind the log. Summary queries are bounded: no page
  exceeds `eventlog.summaries.MAX_PAGE` rows, and each costs index ranges of about a page,
  however many jobs the log holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from eventlog.decoding import Row
from eventlog.errors import EventLogError
from eventlog.events import Event
from eventlog.records import AppendResult, Recorded, StoredSnapshot, WriterStats, WritesRefused
from eventlog.summaries import DEFAULT_PAGE, Changes, JobSummary, SummaryPage, SummaryQuery


@runtime_checkable
class EventLog(Protocol):
    """An append-only, versioned, hash-chained store of event streams."""

    async def append(
        self,
        stream_id: str,
        events: Sequence[Event],
        expected_version: int,
        *,
        close_stream: bool = False,
        reopen_stream: bool = False,
        summary: JobSummary | None = None,
    ) -> AppendResult:
        """Append `events` to `stream_id` if it is at `expected_version` (0 for a new stream).

        Returns once the events are committed. `ANY_VERSION` skips the check.
        `close_stream=True` marks the stream finished (boot skips it, retention may archive
        it); `reopen_stream=True` makes a finished stream live again. `summary`, the job's
        summary after these events, is written in the same transaction.

        Raises:
            ConcurrencyConflictError: the stream is at another version; nothing was written.
            EventLogUnavailableError: the commit was refused (disk full, read-only, lock
                timeout); nothing was written and the append may be retried.
            StreamArchivedError: retention archived the stream; it takes no new events.
            WriterLostError: the writer was lost while the append waited: it may or may not
                have been committed, and a retry with the same expected version is safe.
            EventLogClosedError: the log is closed, or takes no more writes.
        """
        ...

    async def save_snapshot(
        self, stream_id: str, version: int, schema_version: int, state: bytes
    ) -> None:
        """Store the folded state of `stream_id` at `version`, replacing any older snapshot."""
        ...

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[Recorded]:
        """Every event of `stream_id` with a version greater than `after_version`, in order."""
        ...

    async def read_with_snapshot(
        self, stream_id: str, schema_version: int
    ) -> tuple[StoredSnapshot | None, list[Row]]:
        """The stream's snapshot (usable or not) and the raw rows after the usable one.

        Rows are `(seq, stream_id, version, recorded_at, body)`, in version order, from the
        beginning when no snapshot of `schema_version` is usable; `eventlog.decoding` turns
        them into events. One round trip: what boot needs per live stream.
        """
        ...

    async def open_streams(self, prefix: str = "") -> list[tuple[str, int]]:
        """Streams that have not been closed, with their versions, optionally by id prefix."""
        ...

    async def all_streams(self, prefix: str = "") -> list[tuple[str, int, bool]]:
        """Every stream (archived ones too), with its version and whether it is closed."""
        ...

    async def archived(self, stream_id: str) -> tuple[int, float] | None:
        """`(version, archived_at)` if retention archived `stream_id`, else None."""
        ...

    async def last_seq(self) -> int:
        """The seq of the newest event ever appended (0 for an empty log)."""
        ...

    async def job_summaries(self, query: SummaryQuery) -> SummaryPage:
        """A page of the job summaries `query` selects, in job id order, with the cursor of
        the next page.

        Raises:
            SummariesNotBuiltError: a migrated log's summaries are not built yet.
            CursorError: `query.after` was not handed out by this log.
        """
        ...

    async def job_summary(self, job_id: str) -> JobSummary | None:
        """The summary of `job_id` (finished long ago or live), or None if never recorded."""
        ...

    async def summary_changes(
        self, after: int, *, limit: int = DEFAULT_PAGE, wait_s: float = 0.0
    ) -> Changes:
        """The summaries whose position is after `after`, oldest first (each job once, as
        it is now); with none, waits up to `wait_s` for one."""
        ...

    async def coverage(
        self, datasource: str, start: str | None = None, end: str | None = None
    ) -> list[JobSummary]:
        """The summaries of `datasource`'s jobs whose interval overlaps `start/end`, by
        interval start (at most `eventlog.summaries.MAX_COVERAGE`)."""
        ...

    async def phase_counts(self) -> dict[str, int]:
        """How many jobs the log holds in each phase."""
        ...

    async def summaries_need_rebuild(self) -> bool:
        """Whether the summaries await their first fill (a log migrated to them)."""
        ...

    async def rebuild_summaries(
        self, summaries: Sequence[tuple[str, JobSummary]], through_seq: int
    ) -> bool:
        """Replace every summary (archived jobs' excepted) with `summaries`, `(stream id,
        summary)` folded from the log up to `through_seq`; False, with nothing changed, if
        the log has moved on since."""
        ...

    def read_all(self, after_seq: int = 0, *, chunk: int = 1000) -> AsyncIterator[Recorded]:
        """Every event after `after_seq` in seq order, as far as the log goes now."""
        ...

    def subscribe(self, after_seq: int = 0, *, chunk: int = 1000) -> AsyncIterator[Recorded]:
        """Every event after `after_seq` in seq order, then new ones as they commit; the
        iteration ends when the log closes."""
        ...

    async def close(self) -> None:
        """Commit what is already queued, then release everything; later appends fail."""
        ...

    @property
    def stats(self) -> WriterStats:
        """What the log has written since it was opened."""
        ...

    @property
    def writes_refused(self) -> WritesRefused | None:
        """Since when, and why, commits are refused (a full disk), or None while they pass."""
        ...

    @property
    def write_failure(self) -> EventLogError | None:
        """Why the log takes no more writes at all, or None while it does."""
        ...
