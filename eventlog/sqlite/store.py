"""The SQLite event journal: `SQLiteEventLog`, its appends, snapshots and maintenance.

Theory of operation (docs/eventlog.md tells the whole story): one writer, in a child process
by default, owns the only connection that writes (`writer_session` talks to it, `writer`
is its side). Appends are encoded here, queued with a future, and group-committed: the
writer takes everything that has arrived into one transaction, and a future resolves only
once its COMMIT has returned. Every event is hash-chained to its predecessor (`eventlog.chain`).
Readers have a connection of their own (`reader`); maintenance (retention) runs on a third
while the writer is held.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog

from eventlog import contract
from eventlog.chain_report import ChainReport
from eventlog.errors import EventLogError
from eventlog.events import Event
from eventlog.files import create_private, shared_warning
from eventlog.records import (
    AppendResult,
    ReadStats,
    WriterStats,
    WritesRefused,
)
from eventlog.sqlite.migrations import DEFAULT_PAGE_SIZE
from eventlog.sqlite.projection.schema import replace_all
from eventlog.sqlite.reader import LogReader
from eventlog.sqlite.verify import verify as verify_file
from eventlog.sqlite.writer_frames import Open
from eventlog.sqlite.writer_link import WriterMode
from eventlog.sqlite.writer_session import SNAPSHOT, WriterSession
from eventlog.summaries import JobSummary
from eventlog.writes.items import SnapshotItem, append_item
from eventlog.writes.summary_rows import draft, row_of

__all__ = ["SQLiteEventLog", "Synchronous"]

logger = structlog.get_logger("druid_orch.eventlog")

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_CHUNK = 64  # appends per frame to a writer process while a burst is queued; the rest go at
# the loop's next turn


class SQLiteEventLog(LogReader):
    """Append-only, hash-chained, group-committed event journal on SQLite (WAL mode)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "FULL",
        writer: WriterMode = "process",
        max_batch: int = 2048,
        max_size_bytes: int | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Args:
        path: the database file (created if missing).
        synchronous: SQLite's `synchronous` for the writer; FULL survives power loss.
        writer: where the writer runs: a child process (beside the event loop, the fast
            choice) or a thread of this process (where starting processes is not allowed).
        max_batch: the most appends and snapshots one transaction holds.
        max_size_bytes: refuse to grow the database file past this size; appends that
            would fail as on a full disk, retryably, until space is freed (by retention).
        page_size: SQLite's page size for a new file (a power of two, 512 to 65536); an
            existing file keeps its own.
        clock: stamps events (`recorded_at`); seconds since the epoch.
        """
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        if writer not in ("process", "thread"):
            raise ValueError(f"writer must be 'process' or 'thread', not {writer!r}")
        if max_size_bytes is not None and max_size_bytes <= 0:
            raise ValueError(f"max_size_bytes must be positive, not {max_size_bytes}")
        if not 512 <= page_size <= 65536 or page_size & (page_size - 1):
            raise ValueError(f"page_size must be a power of two from 512 to 65536, not {page_size}")
        super().__init__(str(path))
        self.synchronous: Synchronous = synchronous
        self.writer: WriterMode = writer
        self.max_batch = max_batch
        self.max_size_bytes = max_size_bytes
        self.page_size = page_size
        self.stats = WriterStats()
        self.read_stats = ReadStats()
        self._session = WriterSession(
            Open(self.path, synchronous, max_batch, max_size_bytes, page_size),
            writer,
            # A writer thread takes its whole batch at the loop's turn: one that started on a
            # chunk while the loop works would wait for the GIL at every step (RESULTS.md).
            chunk=_CHUNK if writer == "process" else max_batch,
            clock=clock,
            stats=self.stats,
            on_committed=self._notify_committed,
        )
        self._maintenance = asyncio.Lock()
        self._mx: ThreadPoolExecutor | None = None
        self._maintenance_conn: sqlite3.Connection | None = None

    # --- lifecycle ---------------------------------------------------------------------

    @classmethod
    async def open(cls, path: str | Path, **kwargs: Any) -> SQLiteEventLog:
        """Open (creating or upgrading) the log at `path` and start its writer."""
        log = cls(path, **kwargs)
        await log._open()
        return log

    async def __aenter__(self) -> SQLiteEventLog:
        if not self._session.started:
            await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _open(self) -> None:
        if not create_private(self.path):
            warning = shared_warning(self.path)
            if warning is not None:
                logger.warning("event_log_readable_by_others", path=str(self.path), fix=warning)
        await self._session.start()
        try:
            await self._open_reader()
        except BaseException:
            await self._session.discard()
            await self._close_reader()
            raise
        self._session.listen()

    async def close(self) -> None:
        """Commit everything already queued, stop the writer and close the connections."""
        if not self._session.started:
            return
        async with self._maintenance:
            await self._session.stop()
            if self._mx is not None:
                await asyncio.get_running_loop().run_in_executor(self._mx, self._close_maintenance)
                self._mx.shutdown(wait=False)
                self._mx = None
        await self._close_reader()

    # --- writing -----------------------------------------------------------------------

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

        Returns once the transaction holding the events has committed. `ANY_VERSION` skips
        the check. `close_stream=True` marks the stream finished, so boot skips it;
        `reopen_stream=True` makes a finished stream live again (boot loads it, retention
        keeps it). `summary` is the job's summary after the events, written in the same
        transaction.

        Raises:
            ConcurrencyConflictError: the stream is at another version; nothing was written.
            EventLogUnavailableError: the commit failed (disk full, read-only); nothing was
                written and the append may be retried.
            StreamArchivedError: retention archived the stream; it takes no new events.
            WriterLostError: the writer died while the append waited; it may or may not
                have been committed, and a retry with the same expected version is safe.
            EventLogClosedError: the log is closed, or gave up on writers that kept dying.
        """
        item = append_item(
            stream_id, events, expected_version, close_stream, reopen_stream, summary
        )
        done: asyncio.Future[AppendResult] = self._session.future()
        self._session.queue(item, done, len(item.events))
        return await done

    async def save_snapshot(
        self, stream_id: str, version: int, schema_version: int, state: bytes
    ) -> None:
        """Store the folded state of `stream_id` at `version`, replacing any older snapshot.

        Committed with the appends around it; returns once it is on disk.
        """
        done: asyncio.Future[None] = self._session.future()
        self._session.queue(SnapshotItem(stream_id, version, schema_version, state), done, SNAPSHOT)
        await done

    async def run_exclusive(self, action: Callable[[sqlite3.Connection], object]) -> object:
        """Run `action(conn)` while no append commits (for maintenance such as retention).

        Appends queued before the call commit first; appends made meanwhile wait. `conn`
        is a connection of the log's own, not the writer's; the action manages its own
        transaction, and one left open is rolled back. Afterwards the writer reloads its
        view of the log, since the action may have changed it.
        """
        async with self._maintenance, self._session.held():
            if self._mx is None:
                self._mx = ThreadPoolExecutor(1, thread_name_prefix="eventlog-maintenance")
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._mx, self._run_action, action)

    async def rebuild_summaries(
        self, summaries: Sequence[tuple[str, JobSummary]], through_seq: int
    ) -> bool:
        """Replace the job summaries with `summaries` (stream id, summary with its position
        and time set), folded from the log up to `through_seq`; archived jobs keep theirs.

        Holds the writer, so nothing commits meanwhile. Returns False, and changes nothing,
        if the log moved past `through_seq` since the fold: fold again.
        """
        rows = [row_of(sid, draft(s), s.position, s.changed_at) for sid, s in summaries]

        def replace(conn: sqlite3.Connection) -> bool:
            return replace_all(conn, rows, through_seq)[0]

        return bool(await self.run_exclusive(replace))

    @property
    def write_failure(self) -> EventLogError | None:
        """Why the log takes no more writes (its writers kept dying), or None while it does."""
        return self._session.write_failure

    @property
    def writes_refused(self) -> WritesRefused | None:
        """Since when, and why, commits fail (a full disk, a read-only file), or None.

        Set by the first refused batch and cleared by the next batch that commits: the log
        itself keeps working through such a spell, and each refused append fails alone,
        retryably (`EventLogUnavailableError`).
        """
        return self._session.refused

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id, while it runs (None for a writer thread)."""
        return self._session.writer_pid

    def _writer_alive(self) -> bool:
        return self._session.writing

    # --- maintenance (on its own thread and connection) -------------------------------

    def _run_action(self, action: Callable[[sqlite3.Connection], object]) -> object:
        conn = self._maintenance_conn
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            self._maintenance_conn = conn
        try:
            return action(conn)
        finally:
            if conn.in_transaction:
                conn.rollback()

    def _close_maintenance(self) -> None:
        if self._maintenance_conn is not None:
            self._maintenance_conn.close()
            self._maintenance_conn = None

    # --- reading: see eventlog.sqlite.reader; verification: see eventlog.sqlite.verify

    async def verify(self, *, archives: bool = False) -> ChainReport:
        """Walk the whole chain on a connection of its own; see `eventlog.sqlite.verify.verify`."""
        return await verify_file(self.path, archives=archives)


if TYPE_CHECKING:
    # mypy proves here that this backend keeps the contract the actors and service are typed
    # with; a method missing or with another signature fails the type check, not a job.
    _KEEPS_THE_CONTRACT: type[contract.EventLog] = SQLiteEventLog
