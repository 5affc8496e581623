"""The SQLite event journal.

Theory of operation
-------------------
The writer (`eventlog.sqlite.writer_process`) owns the only connection that writes. It runs in a
child process by default, or on a thread (`writer="thread"`), at the far end of a socket
pair (`eventlog.sqlite.writer_link`, frames in `eventlog.sqlite.protocol`); readers have a
connection of their own on a thread of their own (`eventlog.sqlite.reader`).

Writing. `append()` encodes the events on the caller's side (so a bad event fails its own
caller), queues them with a future and awaits the future. Queued appends go to the writer
in chunks: as soon as 64 are queued, or at the event loop's next turn. The writer takes
everything that has arrived (up to `max_batch` items) and, inside one
`BEGIN IMMEDIATE ... COMMIT` (group commit), reads the versions of streams it has not seen
in one query, checks each append's expected version, gives events their global `seq`,
per-stream `version` and chain hash, and inserts the rows with a few multi-row INSERTs. It
answers once COMMIT has returned, one outcome per item in order, and only then are the
futures resolved: a resolved future names events that are on disk (with
`synchronous=FULL`, even across power loss); an unresolved one may or may not be, and that
is all a crash (SIGKILL) can take. Batches grow with load: everything that arrived while
one batch committed shares the next commit. Snapshots ride in the same transactions.

Why a process: with CPython's GIL, a writer thread and the event loop take turns, so each
round of appends cost the loop's work plus the writer's. In a process of its own the writer
commits one chunk while the loop wakes the callers of the last one and queues the next
(`bench/RESULTS.md` has the figures of both). Chunks, rather than one batch per loop turn,
are what lets the two overlap. The writer dies with its parent (a SIGKILLed orchestrator
leaves no writer behind) and ignores the SIGINT and SIGTERM meant for its parent, which
closes it after committing what was queued. If the writer dies, every append it held fails
with the retryable `WriterLostError` (its outcome is unknown: the stream's version tells),
appends not yet sent wait, and a successor writer takes them; after more than three losses
within 60 s the log takes no more appends (`write_failure`); reads go on.

Maintenance (`run_exclusive`, used by retention) runs on a third connection while the
writer is held: queued appends commit first, later ones wait, and the writer reloads its
view afterwards.

An append whose expected version is stale fails alone with `ConcurrencyConflictError`; the
rest of its batch commits. If a commit fails (disk full, read-only file, lock timeout), it
is rolled back, the writer's view stays as it was, every item of the batch fails with the
retryable `EventLogUnavailableError`, and the writer carries on with the next batch, so
callers can retry. A read-only failure makes the writer reopen its connection first, so a
file made writable again is written to.

Hash chain (`eventlog.chain`): each row's hash covers its predecessor's hash, its place and
its bytes; the newest (seq, hash) is also the `head` row of `meta`, written in the same
transaction, so a truncated tail is refused at open and reported by
`eventlog.sqlite.verify.verify`. Retention (`eventlog.retention.closed_streams`) deletes
archived rows and leaves checkpoints that carry the chain across each gap.

Streams. `streams` holds a row per stream, written when the stream is created or closed
(`close_stream=True` once the stream reached a terminal state), so boot can list live
streams without touching the history of finished ones; the current version of a stream is
the larger of that row's version and its newest event's.

Reading happens on the readers' connection (WAL lets it read while the writer commits):
one stream, everything after a seq in chunks (the next chunk is fetched while the caller
works through the current one), or a subscription that follows commits live. Rows are
decoded on the event loop, through `eventlog.upcasting` for tags of older versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from math import isfinite
from pathlib import Path
from typing import Any, Literal

import msgspec
import structlog

from eventlog.chain import GENESIS_HASH, chain_hash
from eventlog.errors import (
    EventLogClosedError,
    EventLogError,
    EventLogUnavailableError,
    WriterLostError,
)
from eventlog.events import Event, encode_event
from eventlog.records import (
    ANY_VERSION,
    AppendResult,
    ReadStats,
    Recorded,
    WriterStats,
    WritesRefused,
)
from eventlog.sqlite.migrations import APPLICATION_ID, DEFAULT_PAGE_SIZE, SCHEMA_VERSION
from eventlog.sqlite.protocol import (
    Appended,
    AppendItem,
    Archived,
    Chunk,
    Conflict,
    Done,
    Failed,
    Item,
    Open,
    Outcome,
    Outcomes,
    Reload,
    SnapshotItem,
    Sync,
    error_of,
)
from eventlog.sqlite.reader import LogReader
from eventlog.sqlite.verify import ChainReport
from eventlog.sqlite.verify import verify as verify_file
from eventlog.sqlite.writer_link import WriterLink, WriterMode

__all__ = [
    "ANY_VERSION",
    "APPLICATION_ID",
    "GENESIS_HASH",
    "SCHEMA_VERSION",
    "AppendResult",
    "EventLog",
    "ReadStats",
    "Recorded",
    "Synchronous",
    "WriterMode",
    "WriterStats",
    "chain_hash",
]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_Waiter = tuple[asyncio.Future[Any], int]  # (the caller's future, what it waits for)
_SNAPSHOT = 0  # waits for a snapshot; a positive number is an append of that many events
_CONTROL = -1  # waits for a control frame (Sync, Reload)
_CHUNK = 64  # appends per frame to a writer process while a burst is queued; the rest go at
# the loop's next turn
_MAX_LOSSES = 3  # writers lost within _LOSS_WINDOW_S before the log gives up on writing
_LOSS_WINDOW_S = 60.0
_logger = structlog.get_logger("eventlog")


_CLASSES: dict[type, tuple[str, tuple[str, ...]]] = {}  # class -> (tag, float fields)


def _encode(event: Event) -> tuple[str, bytes]:
    """The event's tag and stored bytes, refusing what would not decode back.

    JSON has no NaN or infinity: msgspec writes them as `null`, which a `float` field then
    refuses forever. A stored event is permanent, so such an event is refused here, before
    it can become an unreadable row.
    """
    cls = type(event)
    known = _CLASSES.get(cls)
    if known is None:
        if not isinstance(event, Event):
            raise TypeError(f"only Event instances can be appended, not {cls.__name__}")
        floats = tuple(
            f.name for f in msgspec.structs.fields(cls) if f.type in (float, float | None)
        )
        known = _CLASSES[cls] = (str(cls.__struct_config__.tag), floats)
    tag, floats = known
    for name in floats:
        value = getattr(event, name)
        if value is not None and not isfinite(value):
            raise ValueError(
                f"a {tag} event cannot be stored faithfully ({name}={value}): {event!r}"
            )
    return tag, encode_event(event)


def _fail(waiting: list[_Waiter], error: EventLogError) -> None:
    for done, _ in waiting:
        if not done.done():
            done.set_exception(error)


class EventLog(LogReader):
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
        # A writer thread takes its whole batch at the loop's turn: one that started on a
        # chunk while the loop works would wait for the GIL at every step (RESULTS.md).
        self._chunk = _CHUNK if writer == "process" else max_batch
        self._clock = clock
        self._link: WriterLink | None = None
        self._recovery: asyncio.Task[None] | None = None  # replacing a lost writer
        self._outbox: list[Item] = []
        self._outbox_waiters: list[_Waiter] = []
        self._sent: deque[_Waiter] = deque()
        self._flush_scheduled = False
        self._paused = 0
        self._maintenance = asyncio.Lock()
        self._mx: ThreadPoolExecutor | None = None
        self._maintenance_conn: sqlite3.Connection | None = None
        self._closing = False
        self._gone: EventLogError | None = None  # why the log takes no more writes
        self._losses: list[float] = []  # when writers were lost, for the restart limit
        self._refused: WritesRefused | None = None
        self.stats = WriterStats()
        self.read_stats = ReadStats()

    # --- lifecycle ---------------------------------------------------------------------

    @classmethod
    async def open(cls, path: str | Path, **kwargs: Any) -> EventLog:
        """Open (creating or upgrading) the log at `path` and start its writer."""
        log = cls(path, **kwargs)
        await log._open()
        return log

    async def __aenter__(self) -> EventLog:
        if self._link is None:
            await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _open(self) -> None:
        self._closing, self._gone = False, None
        self._link = await self._start_writer()
        try:
            await self._open_reader()
        except BaseException:
            link, self._link = self._link, None
            await link.stop()
            await self._close_reader()
            raise
        self._listen(self._link)

    async def _start_writer(self) -> WriterLink:
        """Start a writer and have it open the file (checking, migrating, loading the head).

        Raises:
            CorruptEventError, SchemaVersionError, EventLogUnavailableError: as the writer
                found the file, or could not be started.
        """
        link = await WriterLink.start(self.path, self.writer)
        try:
            link.send(
                Open(
                    self.path,
                    self.synchronous,
                    self.max_batch,
                    self.max_size_bytes,
                    self.page_size,
                )
            )
            try:
                answer = await link.receive()
            except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
                how = await link.describe_exit()
                raise EventLogUnavailableError(
                    f"the writer of {self.path} stopped while opening it ({how})"
                ) from exc
            opened = answer.items[0] if answer.items else None
            if type(opened) is not Done:
                assert type(opened) in (Failed, Conflict, Archived)
                raise error_of(opened)  # type: ignore[arg-type]
        except BaseException:
            await link.stop()
            raise
        return link

    async def close(self) -> None:
        """Commit everything already queued, stop the writer and close the connections."""
        link = self._link
        if link is None:
            return
        async with self._maintenance:
            self._closing = True
            self._flush()
            if self._sent and link.alive:
                with contextlib.suppress(EventLogError):
                    await self._control(Sync())  # everything sent is answered
            self._link = None
            await link.stop()
            if self._recovery is not None:
                await self._recovery
                self._recovery = None
            # Whatever a lost writer left unanswered, or a restart left unsent:
            closed = EventLogClosedError(f"event log {self.path} closed before this write")
            self._fail_sent(closed)
            self._fail_queued(closed)
            self._notify_committed()  # wakes subscribers, which then see the log closed
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
    ) -> AppendResult:
        """Append `events` to `stream_id` if it is at `expected_version` (0 for a new stream).

        Returns once the transaction holding the events has committed. `ANY_VERSION` skips
        the check. `close_stream=True` marks the stream finished, so boot skips it;
        `reopen_stream=True` makes a finished stream live again (boot loads it, retention
        keeps it).

        Raises:
            ConcurrencyConflictError: the stream is at another version; nothing was written.
            EventLogUnavailableError: the commit failed (disk full, read-only); nothing was
                written and the append may be retried.
            StreamArchivedError: retention archived the stream; it takes no new events.
            WriterLostError: the writer died while the append waited; it may or may not
                have been committed, and a retry with the same expected version is safe.
            EventLogClosedError: the log is closed, or gave up on writers that kept dying.
        """
        if not events:
            raise ValueError(f"append to {stream_id!r} needs at least one event")
        if close_stream and reopen_stream:
            raise ValueError(f"append to {stream_id!r} cannot both close and reopen it")
        encoded = [_encode(event) for event in events]
        done: asyncio.Future[AppendResult] = self._future()
        item = AppendItem(stream_id, expected_version, close_stream, encoded, reopen_stream)
        self._queue(item, done, len(encoded))
        return await done

    async def save_snapshot(
        self, stream_id: str, version: int, schema_version: int, state: bytes
    ) -> None:
        """Store the folded state of `stream_id` at `version`, replacing any older snapshot.

        Committed with the appends around it; returns once it is on disk.
        """
        done: asyncio.Future[None] = self._future()
        self._queue(SnapshotItem(stream_id, version, schema_version, state), done, _SNAPSHOT)
        await done

    async def run_exclusive(self, action: Callable[[sqlite3.Connection], object]) -> object:
        """Run `action(conn)` while no append commits (for maintenance such as retention).

        Appends queued before the call commit first; appends made meanwhile wait. `conn`
        is a connection of the log's own, not the writer's; the action manages its own
        transaction, and one left open is rolled back. Afterwards the writer reloads its
        view of the log, since the action may have changed it.
        """
        async with self._maintenance:
            if self._closing or self._link is None:
                raise EventLogClosedError(f"event log {self.path} is closed")
            self._flush()
            self._paused += 1
            loop = asyncio.get_running_loop()
            try:
                await self._control(Sync())
                if self._mx is None:
                    self._mx = ThreadPoolExecutor(1, thread_name_prefix="eventlog-maintenance")
                return await loop.run_in_executor(self._mx, self._run_action, action)
            finally:
                try:
                    await self._control(Reload())
                finally:
                    self._paused -= 1
                    self._flush()
                    self._notify_committed()

    @property
    def write_failure(self) -> EventLogError | None:
        """Why the log takes no more writes (its writers kept dying), or None while it does."""
        return self._gone

    @property
    def writes_refused(self) -> WritesRefused | None:
        """Since when, and why, commits fail (a full disk, a read-only file), or None.

        Set by the first refused batch and cleared by the next batch that commits: the log
        itself keeps working through such a spell, and each refused append fails alone,
        retryably (`EventLogUnavailableError`).
        """
        return self._refused

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id, while it runs (None for a writer thread)."""
        if self._link is None or self._link.process is None:
            return None
        return self._link.process.pid

    def _future(self) -> asyncio.Future[Any]:
        if self._gone is not None:
            raise self._gone
        if self._closing or self._link is None:
            raise EventLogClosedError(f"event log {self.path} is closed")
        return asyncio.get_running_loop().create_future()

    def _queue(self, item: Item, done: asyncio.Future[Any], kind: int) -> None:
        self._outbox.append(item)
        self._outbox_waiters.append((done, kind))
        if len(self._outbox) >= self._chunk:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Send what is queued, unless maintenance or a restart holds the writer."""
        self._flush_scheduled = False
        link = self._link
        if not self._outbox or self._paused or link is None or not link.alive:
            return  # a lost writer's successor gets these
        items, self._outbox = self._outbox, []
        self._sent.extend(self._outbox_waiters)
        self._outbox_waiters = []
        link.send(Chunk(self._clock(), items))

    async def _control(self, request: Sync | Reload) -> None:
        if self._gone is not None:
            raise self._gone
        assert self._link is not None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._link.send(request)
        self._sent.append((done, _CONTROL))
        await done

    def _listen(self, link: WriterLink) -> None:
        link.listen(self._on_answer, lambda reason: self._on_lost(link, reason))

    def _on_answer(self, answer: Outcomes) -> None:
        """Resolve the waiting callers from one of the writer's answers, in order."""
        if len(answer.items) > len(self._sent):
            raise ValueError(
                f"the writer answered {len(answer.items)} items, {len(self._sent)} were waiting"
            )
        self._settle(answer.items)

    def _on_lost(self, link: WriterLink, reason: BaseException) -> None:
        if self._closing and not self._sent and not isinstance(reason, ValueError):
            return
        self._recovery = asyncio.get_running_loop().create_task(
            self._recover(link, reason), name=f"eventlog-recovery:{self.path}"
        )

    async def _recover(self, link: WriterLink, reason: BaseException) -> None:
        """Fail what the lost writer left unanswered; start a successor unless closing."""
        how = f"{await link.describe_exit()}: {reason}"
        lost = WriterLostError(
            f"the writer of {self.path} stopped ({how}) while this write waited: it may or "
            "may not have been committed; a retry with the same expected version is safe",
            how=how,
        )
        unanswered = len(self._sent)
        self._fail_sent(lost)
        if not self._closing:
            await self._replace_writer(link, lost, unanswered)

    async def _replace_writer(
        self, lost: WriterLink, error: WriterLostError, unanswered: int
    ) -> None:
        """Start a successor for a lost writer; give up after too many losses in a row."""
        now = time.monotonic()
        self._losses = [t for t in self._losses if now - t < _LOSS_WINDOW_S] + [now]
        _logger.error("eventlog_writer_lost", path=self.path, how=error.how, unanswered=unanswered)
        self._paused += 1
        try:
            await lost.stop()
            if len(self._losses) > _MAX_LOSSES:
                raise EventLogClosedError(
                    f"the writer of {self.path} was lost {len(self._losses)} times in "
                    f"{_LOSS_WINDOW_S:.0f} s; the log takes no more writes. Last: {error}"
                )
            successor = await self._start_writer()
            if self._closing:  # close() came while the successor started: it has no work
                await successor.stop()
                self._link = None
                return
            self._link = successor
            self._listen(successor)
            self.stats.writer_restarts += 1
            _logger.warning("eventlog_writer_restarted", path=self.path, pid=self.writer_pid)
        except Exception as exc:
            gone = exc if isinstance(exc, EventLogClosedError) else None
            self._gone = gone or EventLogClosedError(
                f"the writer of {self.path} was lost and no successor could open the log "
                f"({exc}); the log takes no more writes"
            )
            self._gone.__cause__ = exc if gone is None else error
            self._link = None
            self._fail_sent(self._gone)
            self._fail_queued(self._gone)
            _logger.error("eventlog_writer_abandoned", path=self.path, error=str(self._gone))
        finally:
            self._paused -= 1
            self._flush()

    def _fail_sent(self, error: EventLogError) -> None:
        """Fail the callers whose writes went to the writer and were not answered."""
        waiting = list(self._sent)
        self._sent.clear()
        _fail(waiting, error)
        self._notify_committed()

    def _fail_queued(self, error: EventLogError) -> None:
        """Fail the callers whose writes were never sent."""
        waiting = self._outbox_waiters
        self._outbox, self._outbox_waiters = [], []
        _fail(waiting, error)

    def _settle(self, outcomes: list[Outcome]) -> None:
        stats = self.stats
        pop = self._sent.popleft
        written = 0
        failed: Failed | None = None
        for outcome in outcomes:
            done, kind = pop()
            cls = type(outcome)
            if cls is Appended:
                assert type(outcome) is Appended
                stats.appends += 1
                written += kind
                if not done.done():  # a cancelled caller's write stands all the same
                    done.set_result(
                        AppendResult(outcome.first_seq, outcome.last_seq, outcome.version)
                    )
            elif cls is Done:
                if kind == _SNAPSHOT:
                    stats.snapshots += 1
                if not done.done():
                    done.set_result(None)
            else:
                assert type(outcome) in (Conflict, Archived, Failed)
                if cls is Conflict:
                    stats.conflicts += 1
                elif isinstance(outcome, Failed) and kind != _CONTROL:
                    failed = outcome  # the whole batch was refused
                if not done.done():
                    done.set_exception(error_of(outcome))  # type: ignore[arg-type]
        if failed is not None:
            stats.failed_batches += 1
            if self._refused is None:
                _logger.error("eventlog_refusing_writes", path=self.path, reason=failed.message)
                self._refused = WritesRefused(self._clock(), failed.message)
            else:
                self._refused = WritesRefused(self._refused.since, failed.message)
        elif written:
            stats.record_batch(written)
            if self._refused is not None:
                took = self._clock() - self._refused.since
                _logger.warning("eventlog_writes_resumed", path=self.path, refused_for_s=took)
                self._refused = None
            self._notify_committed()

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

    def _writer_alive(self) -> bool:
        return self._link is not None and self._gone is None

    # --- reading: see eventlog.sqlite.reader; verification: see eventlog.sqlite.verify

    async def verify(self, *, archives: bool = False) -> ChainReport:
        """Walk the whole chain on a connection of its own; see `eventlog.sqlite.verify.verify`."""
        return await verify_file(self.path, archives=archives)
