"""The SQLite event journal.

Theory of operation
-------------------
Two connections, each confined to its own thread (aiosqlite's model, minus its one thread
hop per statement): the writer's (`eventlog.writer.WriteConnection`) and the readers'.

Writing. `append()` encodes the events on the caller's side (so a bad event fails its own
caller), puts a `PendingAppend` with a future on the writer's queue and awaits the future.
The writer task takes everything queued, up to `max_batch` items, and hands the whole batch
to the writer thread in one hop. There, inside one `BEGIN IMMEDIATE ... COMMIT` (group
commit), the versions of streams the writer has not seen are read in one query, each
append's expected version is checked, events get their global `seq`, per-stream `version`
and chain hash, and the rows go in through a few multi-row INSERTs. Only after COMMIT returns
are the futures resolved: a resolved future names events that are on disk (with
`synchronous=FULL`, even across power loss); an unresolved one may or may not be, and that
is all a crash (SIGKILL) can take. Batches grow with load: everything that arrived while one
batch committed shares the next commit. Snapshots ride in the same transactions;
maintenance (`run_exclusive`, used by retention) runs between batches.

Why the numbering happens on the writer thread, and why batches alternate with the loop's
work rather than overlap it: with CPython's GIL, a thread that needs the GIL back while the
event loop is busy waits up to a switch interval (5 ms) each time. Planning on the loop and
overlapping commits with it was tried and measured slower (`bench/RESULTS.md`): the commits
stalled on the GIL. As it is, the thread mostly runs while the loop waits for it, and the
multi-row INSERTs keep its GIL hand-offs to a handful per batch (`executemany` takes the GIL
back after every row, which under a busy loop slows a commit by orders of magnitude).

An append whose expected version is stale fails alone with `ConcurrencyConflictError`; the
rest of its batch commits. If a commit fails (disk full, read-only file, lock timeout), it
is rolled back, the writer's view stays as it was, every item of the batch fails with the
retryable `EventLogUnavailableError`, and the writer carries on with the next batch, so
callers can retry. A read-only failure makes the writer reopen its connection first, so a
file made writable again is written to.

Hash chain (`eventlog.chain`): each row's hash covers its predecessor's hash, its place and
its bytes; the newest (seq, hash) is also the `head` row of `meta`, written in the same
transaction, so a truncated tail is refused at open and reported by `eventlog.audit.verify`.
Retention (`eventlog.retention`) deletes archived rows and leaves checkpoints that carry the
chain across each gap.

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
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import isfinite
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from eventlog.audit import ChainReport
from eventlog.audit import verify as verify_file
from eventlog.chain import GENESIS_HASH, chain_hash
from eventlog.errors import (
    ConcurrencyConflictError,
    EventLogClosedError,
    EventLogError,
    StreamArchivedError,
)
from eventlog.events import Event, encode_event
from eventlog.migrations import APPLICATION_ID, SCHEMA_VERSION
from eventlog.reader import LogReader
from eventlog.records import ANY_VERSION, AppendResult, ReadStats, Recorded, WriterStats
from eventlog.writer import Outcome, PendingAppend, PendingSnapshot, WriteConnection

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
    "WriterStats",
    "chain_hash",
]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
T = TypeVar("T")


@dataclass(slots=True)
class _Action:
    """Runs `action` on the write connection between two batches."""

    action: Callable[[sqlite3.Connection], object]
    done: asyncio.Future[object]


_Item = PendingAppend | PendingSnapshot | _Action
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


class EventLog(LogReader):
    """Append-only, hash-chained, group-committed event journal on SQLite (WAL mode)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "FULL",
        max_batch: int = 2048,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        super().__init__(str(path))
        self.synchronous: Synchronous = synchronous
        self.max_batch = max_batch
        self._clock = clock
        self._core = WriteConnection(self.path, synchronous)
        self._wx: ThreadPoolExecutor | None = None
        self._pending: deque[_Item] = deque()
        self._inflight: Sequence[_Item] = ()
        self._wakeup: asyncio.Future[None] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._closing = False
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
        if self._writer_task is None:
            await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._wx = ThreadPoolExecutor(1, thread_name_prefix="eventlog-writer")
        try:
            await loop.run_in_executor(self._wx, self._core.open)
            await self._open_reader()
        except BaseException:
            await self._close_threads()
            raise
        self._closing = False
        self._writer_task = loop.create_task(
            self._write_loop(), name=f"eventlog-writer:{self.path}"
        )

    async def close(self) -> None:
        """Commit everything already queued, stop the writer and close both connections."""
        if self._writer_task is not None:
            self._closing = True
            self._wake()
            try:
                await self._writer_task
            finally:
                self._writer_task = None
                self._notify_committed()  # wakes subscribers, which then see the log closed
        await self._close_threads()

    async def _close_threads(self) -> None:
        loop = asyncio.get_running_loop()
        if self._wx is not None:
            await loop.run_in_executor(self._wx, self._core.close)
            self._wx.shutdown(wait=False)
            self._wx = None
        await self._close_reader()

    # --- writing -----------------------------------------------------------------------

    async def append(
        self,
        stream_id: str,
        events: Sequence[Event],
        expected_version: int,
        *,
        close_stream: bool = False,
    ) -> AppendResult:
        """Append `events` to `stream_id` if it is at `expected_version` (0 for a new stream).

        Returns once the transaction holding the events has committed. `ANY_VERSION` skips
        the check. `close_stream=True` marks the stream finished, so boot skips it.

        Raises:
            ConcurrencyConflictError: the stream is at another version; nothing was written.
            EventLogUnavailableError: the commit failed (disk full, read-only); nothing was
                written and the append may be retried.
            StreamArchivedError: retention archived the stream; it takes no new events.
            EventLogClosedError: the log is closed.
        """
        if not events:
            raise ValueError(f"append to {stream_id!r} needs at least one event")
        encoded = [_encode(event) for event in events]
        done: asyncio.Future[AppendResult] = self._future()
        self._pending.append(
            PendingAppend(stream_id, encoded, expected_version, close_stream, done)
        )
        self._wake()
        return await done

    async def save_snapshot(
        self, stream_id: str, version: int, schema_version: int, state: bytes
    ) -> None:
        """Store the folded state of `stream_id` at `version`, replacing any older snapshot.

        Committed with the next batch of appends; returns once it is on disk.
        """
        done: asyncio.Future[None] = self._future()
        self._pending.append(PendingSnapshot(stream_id, version, schema_version, state, done))
        self._wake()
        await done

    async def run_exclusive(self, action: Callable[[sqlite3.Connection], object]) -> object:
        """Run `action(conn)` on the writer's thread between two batches (for maintenance).

        The action manages its own transaction; one left open is rolled back. Afterwards the
        writer reloads its view of the log, since the action may have changed it.
        """
        done: asyncio.Future[object] = self._future()
        self._pending.append(_Action(action, done))
        self._wake()
        return await done

    def stream_version(self, stream_id: str) -> int | None:
        """The writer's cached version of a stream, if it has seen the stream."""
        return self._core.versions.get(stream_id)

    def _future(self) -> asyncio.Future[Any]:
        if self._closing or self._writer_task is None or self._writer_task.done():
            raise EventLogClosedError(f"event log {self.path} is closed")
        return asyncio.get_running_loop().create_future()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        pending = self._pending
        try:
            while True:
                if not pending:
                    if self._closing:
                        return
                    self._wakeup = loop.create_future()
                    await self._wakeup
                    continue
                first = pending.popleft()
                if isinstance(first, _Action):
                    self._inflight = (first,)
                    await self._run_action(loop, first)
                    continue
                batch: list[PendingAppend | PendingSnapshot] = [first]
                while pending and len(batch) < self.max_batch:
                    head = pending.popleft()
                    if isinstance(head, _Action):
                        pending.appendleft(head)  # maintenance waits for the next turn
                        break
                    batch.append(head)
                self._inflight = batch
                try:
                    outcomes = await loop.run_in_executor(
                        self._wx, self._core.commit, batch, self._clock()
                    )
                except Exception as exc:  # a bug rather than a refusal: fail this batch only
                    error = EventLogError(
                        f"the writer of {self.path} failed on a batch of {len(batch)}: {exc!r}"
                    )
                    error.__cause__ = exc
                    outcomes = [error] * len(batch)
                self._settle(batch, outcomes)
        finally:
            self._inflight, inflight = (), self._inflight
            error = EventLogClosedError(f"event log {self.path} closed before this write")
            for unsettled in [*inflight, *pending]:
                if not unsettled.done.done():
                    unsettled.done.set_exception(error)
            pending.clear()

    def _settle(
        self, batch: list[PendingAppend | PendingSnapshot], outcomes: list[Outcome]
    ) -> None:
        stats = self.stats
        written = 0
        failed = False
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, EventLogError):
                if isinstance(outcome, ConcurrencyConflictError):
                    stats.conflicts += 1
                elif not isinstance(outcome, StreamArchivedError):
                    failed = True  # the whole batch was refused
                if not item.done.done():
                    item.done.set_exception(outcome)
                continue
            if item.done.done():  # the caller was cancelled; the write stands
                continue
            if isinstance(item, PendingAppend):
                assert isinstance(outcome, AppendResult)
                stats.appends += 1
                written += len(item.events)
                item.done.set_result(outcome)
            else:
                stats.snapshots += 1
                item.done.set_result(None)
        if failed:
            stats.failed_batches += 1
        elif written:
            stats.record_batch(written)
            self._notify_committed()

    async def _run_action(self, loop: asyncio.AbstractEventLoop, item: _Action) -> None:
        try:
            result = await loop.run_in_executor(self._wx, self._core.run, item.action)
        except Exception as exc:  # the caller gets the error; the writer keeps going
            if not item.done.done():
                item.done.set_exception(exc)
        else:
            if not item.done.done():
                item.done.set_result(result)
        self._notify_committed()

    def _writer_alive(self) -> bool:
        return self._writer_task is not None and not self._writer_task.done()

    # --- reading: see eventlog.reader; verification: see eventlog.audit -------------------

    async def verify(self, *, archives: bool = False) -> ChainReport:
        """Walk the whole chain on a connection of its own; see `eventlog.audit.verify`."""
        return await verify_file(self.path, archives=archives)
