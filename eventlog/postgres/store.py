"""The event log on PostgreSQL: `PostgresEventLog`, the same contract as the SQLite file.

Theory of operation (docs/ha.md tells the whole story): one writer task per process owns
one connection and group-commits (`eventlog.postgres.writer`); reads go through a small pool
of their own; `subscribe` and the change feed's long poll wake on LISTEN/NOTIFY (the writer
notifies in its transaction, so the notice arrives once the commit is visible, from this
process or any other). With a `Fence` set, every batch checks the leader's epoch in its own
transaction: a deposed leader's appends fail with `FencedOffError`, nothing written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from eventlog import contract
from eventlog.errors import EventLogError, EventLogUnavailableError
from eventlog.events import Event
from eventlog.postgres import summaries
from eventlog.postgres.reader import LogReader
from eventlog.postgres.schema import migrate
from eventlog.postgres.summary_repair import repair_summaries
from eventlog.postgres.urls import redacted
from eventlog.postgres.writer import (
    DRIVER_ERRORS,
    NOTIFY_CHANNEL,
    UPSERT_SUMMARIES,
    Fence,
    FencedOffError,
    PgWriter,
    columns,
)
from eventlog.records import (
    AppendResult,
    ReadStats,
    Recorded,
    WriterStats,
    WritesRefused,
)
from eventlog.summaries import JobSummary
from eventlog.writes.items import SnapshotItem, append_item
from eventlog.writes.summary_rows import draft, row_of

__all__ = ["PostgresEventLog"]

_logger = structlog.get_logger("druid_orch.eventlog")
_EVENT_COLUMNS = "seq, stream_id, version, recorded_at, body"


class PostgresEventLog(LogReader):
    """Append-only, hash-chained, group-committed event journal in a PostgreSQL database."""

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        max_batch: int = 2048,
        readers: int = 4,
        clock: Callable[[], float] = time.time,
        connect_timeout_s: float = 10.0,
    ) -> None:
        """Args:
        url: `postgresql://user@host:port/database` (a password in it works, but one from
            a file or the environment, given as `password`, keeps it out of configs).
        password: the database password, if the URL has none.
        max_batch: the most appends and snapshots one transaction holds.
        readers: connections in the read pool.
        clock: stamps events (`recorded_at`); seconds since the epoch.
        """
        super().__init__()
        self.url = url
        self.path = redacted(url)  # what messages name: never the password
        self._password = password
        self._readers = readers
        self._timeout = connect_timeout_s
        self.stats = WriterStats()
        self.read_stats = ReadStats()
        self._pool: Any = None
        self._listener: Any = None
        self._relisten: asyncio.Task[None] | None = None
        self._writer = PgWriter(
            self._connect,
            self.path,
            max_batch=max_batch,
            clock=clock,
            stats=self.stats,
            on_committed=self._notify_committed,
        )

    # --- lifecycle -------------------------------------------------------------------

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> PostgresEventLog:
        """Open (creating or upgrading the schema of) the log in the database at `url`."""
        log = cls(url, **kwargs)
        await log._open()
        return log

    async def __aenter__(self) -> PostgresEventLog:
        if self._pool is None:
            await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _connect(self) -> Any:
        return await asyncpg.connect(self.url, password=self._password, timeout=self._timeout)

    async def _open(self) -> None:
        try:
            conn = await self._connect()
        except DRIVER_ERRORS as exc:
            raise EventLogUnavailableError(f"cannot open event log {self.path}: {exc}") from exc
        try:
            await migrate(conn, self.path)
            self._pool = await asyncpg.create_pool(
                self.url,
                password=self._password,
                min_size=1,
                max_size=self._readers,
                timeout=self._timeout,
            )
            await self._listen(conn)
        except BaseException:
            await conn.close()
            if self._pool is not None:
                await self._pool.close()
                self._pool = None
            raise
        self._listener = conn
        self._writer.start()

    async def _listen(self, conn: Any) -> None:
        await conn.add_listener(NOTIFY_CHANNEL, self._on_notice)
        conn.add_termination_listener(self._on_listener_lost)

    def _on_listener_lost(self, conn: Any) -> None:
        """The LISTEN connection was cut (a restart, pg_terminate_backend): wake everyone
        waiting (they read again, so nothing committed meanwhile is missed) and listen anew."""
        if self._listener is not conn or self._pool is None:
            return
        self._listener = None
        self._notify_committed()
        self._relisten = asyncio.get_running_loop().create_task(self._listen_again())

    async def _listen_again(self) -> None:
        delay = 0.1
        while self._pool is not None:
            try:
                conn = await self._connect()
            except DRIVER_ERRORS:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if self._pool is None:
                await conn.close()
                return
            await self._listen(conn)
            self._listener = conn
            self._notify_committed()  # commits made while deaf: readers look again
            return

    async def close(self) -> None:
        """Commit everything already queued, stop the writer and close the connections."""
        if self._pool is None:
            return
        if self._relisten is not None:
            self._relisten.cancel()
            await asyncio.gather(self._relisten, return_exceptions=True)
            self._relisten = None
        await self._writer.stop()
        pool, self._pool = self._pool, None
        listener, self._listener = self._listener, None
        self._notify_committed()  # wakes followers, which then see the log closed
        if listener is not None:
            await listener.close()
        await pool.close()

    def _on_notice(self, *_: object) -> None:
        self._notify_committed()

    # --- fencing (docs/ha.md) --------------------------------------------------------

    def fence(self, fence: Fence | None, on_fenced: Callable[[FencedOffError], None]) -> None:
        """Make every later batch commit only while `fence` still holds the lease."""
        self._writer.fence = fence
        self._writer.on_fenced = on_fenced

    # --- writing ---------------------------------------------------------------------

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
        """See `eventlog.contract.EventLog.append`; also raises `FencedOffError` once this
        process no longer leads (with a fence set)."""
        item = append_item(
            stream_id, events, expected_version, close_stream, reopen_stream, summary
        )
        result: AppendResult = await self._writer.queue(item)
        return result

    async def save_snapshot(
        self, stream_id: str, version: int, schema_version: int, state: bytes
    ) -> None:
        await self._writer.queue(SnapshotItem(stream_id, version, schema_version, state))

    async def rebuild_summaries(
        self, summaries_: Sequence[tuple[str, JobSummary]], through_seq: int
    ) -> bool:
        rows = [row_of(sid, draft(s), s.position, s.changed_at) for sid, s in summaries_]
        async with self._acquire() as conn, conn.transaction():
            seq = await conn.fetchval("SELECT seq FROM head WHERE id = 1 FOR UPDATE")
            if seq != through_seq:
                return False
            await conn.execute(
                "DELETE FROM job_summaries WHERE stream_id NOT IN "
                "(SELECT stream_id FROM streams WHERE archived_at IS NOT NULL)"
            )
            if rows:
                await conn.execute(UPSERT_SUMMARIES, *columns(rows, 9))
            # The jobs-by-phase counts followed the two statements above (their triggers).
            await conn.execute("DELETE FROM meta WHERE key = $1", summaries.REBUILD_KEY)
        return True

    async def rebuild_summaries_holding_head(
        self, fold: Callable[[Iterator[Recorded]], dict[str, JobSummary]]
    ) -> int:
        """Make every summary (archived jobs' excepted) equal `fold` of every event, holding
        the head row throughout, so that a running leader's appends wait rather than make
        the rebuild start again; the rows the fold gives (`eventlog.postgres.summary_repair`)."""
        async with self._acquire() as conn:
            return await repair_summaries(conn, fold)

    @property
    def writer_pid(self) -> int | None:
        """None: the writer is a task of this process (the database's CPU is its own)."""
        return None

    @property
    def write_failure(self) -> EventLogError | None:
        return None  # a lost connection is replaced at the next batch

    @property
    def writes_refused(self) -> WritesRefused | None:
        return self._writer.refused


if TYPE_CHECKING:
    _KEEPS_THE_CONTRACT: type[contract.EventLog] = PostgresEventLog
