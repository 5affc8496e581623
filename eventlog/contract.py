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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from eventlog.decoding import Row
from eventlog.errors import EventLogError
from eventlog.events import Event
from eventlog.records import AppendResult, Recorded, StoredSnapshot, WriterStats, WritesRefused


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
    ) -> AppendResult:
        """Append `events` to `stream_id` if it is at `expected_version` (0 for a new stream).

        Returns once the events are committed. `ANY_VERSION` skips the check.
        `close_stream=True` marks the stream finished (boot skips it, retention may archive
        it); `reopen_stream=True` makes a finished stream live again.

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
