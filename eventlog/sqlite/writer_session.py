"""The event loop's side of the writer: queued items out, outcomes back, a lost writer replaced.

Items queue with the future their caller awaits and go to the writer in chunks: as soon as
`chunk` are queued, or at the loop's next turn. The writer answers every frame in order, so
outcomes are matched to waiting futures by position alone, and a future is resolved only once
the writer's COMMIT has returned.

If the writer dies, every item it held fails with the retryable `WriterLostError` (its
outcome is unknown: the stream's version tells), items not yet sent wait, and a successor
writer takes them; after more than `_MAX_LOSSES` losses within `_LOSS_WINDOW_S` the session
takes no more writes (`write_failure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog

from eventlog.errors import (
    EventLogClosedError,
    EventLogError,
    EventLogUnavailableError,
    WriterLostError,
)
from eventlog.records import AppendResult, WriterStats, WritesRefused
from eventlog.sqlite.writer_frames import Chunk, Open, Outcomes, Reload, Sync
from eventlog.sqlite.writer_link import WriterLink, WriterMode
from eventlog.writes.items import (
    Appended,
    Archived,
    Conflict,
    Done,
    Failed,
    Item,
    Outcome,
    error_of,
)

_Waiter = tuple[asyncio.Future[Any], int]  # (the caller's future, what it waits for)
SNAPSHOT = 0  # waits for a snapshot; a positive number is an append of that many events
_CONTROL = -1  # waits for a control frame (Sync, Reload)
_MAX_LOSSES = 3  # writers lost within _LOSS_WINDOW_S before the log gives up on writing
_LOSS_WINDOW_S = 60.0
_logger = structlog.get_logger("eventlog")


def _fail(waiting: list[_Waiter], error: EventLogError) -> None:
    for done, _ in waiting:
        if not done.done():
            done.set_exception(error)


class WriterSession:
    """One log's conversation with its writer, across writers that die and are replaced."""

    def __init__(
        self,
        opening: Open,
        mode: WriterMode,
        *,
        chunk: int,
        clock: Callable[[], float],
        stats: WriterStats,
        on_committed: Callable[[], None],
    ) -> None:
        """Args:
        opening: what each writer is told when it starts (the file and its settings).
        mode: where writers run (a child process or a thread).
        chunk: items per frame while a burst is queued; the rest go at the loop's next turn.
        clock: stamps each chunk's events.
        stats: counters this session adds to.
        on_committed: called whenever a commit (or a failure) may have changed what
            readers waiting for new events see.
        """
        self.path = opening.path
        self._opening = opening
        self._mode = mode
        self._chunk = chunk
        self._clock = clock
        self.stats = stats
        self._on_committed = on_committed
        self._link: WriterLink | None = None
        self._recovery: asyncio.Task[None] | None = None  # replacing a lost writer
        self._outbox: list[Item] = []
        self._outbox_waiters: list[_Waiter] = []
        self._sent: deque[_Waiter] = deque()
        self._flush_scheduled = False
        self._paused = 0
        self._closing = False
        self._gone: EventLogError | None = None  # why the log takes no more writes
        self._losses: list[float] = []  # when writers were lost, for the restart limit
        self.refused: WritesRefused | None = None

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start a writer that opens the file; `listen` once the rest of the log is open."""
        self._closing, self._gone = False, None
        self._link = await self._start_writer()

    def listen(self) -> None:
        assert self._link is not None
        self._listen(self._link)

    async def discard(self) -> None:
        """Stop a writer that was started but never listened to (the log failed to open)."""
        link, self._link = self._link, None
        if link is not None:
            await link.stop()

    async def stop(self) -> None:
        """Commit everything already queued, stop the writer, fail whatever is left."""
        link = self._link
        if link is None:
            return
        self._closing = True
        self.flush()
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
        self._on_committed()  # wakes subscribers, which then see the log closed

    @property
    def started(self) -> bool:
        return self._link is not None

    @property
    def writing(self) -> bool:
        """Whether writes can still commit (a writer runs, or will be replaced)."""
        return self._link is not None and self._gone is None

    @property
    def write_failure(self) -> EventLogError | None:
        return self._gone

    @property
    def writer_pid(self) -> int | None:
        if self._link is None or self._link.process is None:
            return None
        return self._link.process.pid

    async def _start_writer(self) -> WriterLink:
        """Start a writer and have it open the file (checking, migrating, loading the head).

        Raises:
            CorruptEventError, SchemaVersionError, EventLogUnavailableError: as the writer
                found the file, or could not be started.
        """
        link = await WriterLink.start(self.path, self._mode)
        try:
            link.send(self._opening)
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

    # --- sending ---------------------------------------------------------------------

    def future(self) -> asyncio.Future[Any]:
        """A future for one item, or the reason no more items are taken."""
        if self._gone is not None:
            raise self._gone
        if self._closing or self._link is None:
            raise EventLogClosedError(f"event log {self.path} is closed")
        return asyncio.get_running_loop().create_future()

    def queue(self, item: Item, done: asyncio.Future[Any], kind: int) -> None:
        """Send `item` with the next chunk; `kind` is SNAPSHOT or the append's event count."""
        self._outbox.append(item)
        self._outbox_waiters.append((done, kind))
        if len(self._outbox) >= self._chunk:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send what is queued, unless maintenance or a restart holds the writer."""
        self._flush_scheduled = False
        link = self._link
        if not self._outbox or self._paused or link is None or not link.alive:
            return  # a lost writer's successor gets these
        items, self._outbox = self._outbox, []
        self._sent.extend(self._outbox_waiters)
        self._outbox_waiters = []
        link.send(Chunk(self._clock(), items))

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """No item commits inside: those sent before have committed, later ones wait.

        Afterwards the writer reloads its view of the log, which the holder may have changed.
        """
        if self._closing or self._link is None:
            raise EventLogClosedError(f"event log {self.path} is closed")
        self.flush()
        self._paused += 1
        try:
            await self._control(Sync())
            yield
        finally:
            try:
                await self._control(Reload())
            finally:
                self._paused -= 1
                self.flush()
                self._on_committed()

    async def _control(self, request: Sync | Reload) -> None:
        if self._gone is not None:
            raise self._gone
        assert self._link is not None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._link.send(request)
        self._sent.append((done, _CONTROL))
        await done

    # --- answers and losses -----------------------------------------------------------

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
            self.flush()

    def _fail_sent(self, error: EventLogError) -> None:
        """Fail the callers whose writes went to the writer and were not answered."""
        waiting = list(self._sent)
        self._sent.clear()
        _fail(waiting, error)
        self._on_committed()

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
                if kind == SNAPSHOT:
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
            if self.refused is None:
                _logger.error("eventlog_refusing_writes", path=self.path, reason=failed.message)
                self.refused = WritesRefused(self._clock(), failed.message)
            else:
                self.refused = WritesRefused(self.refused.since, failed.message)
        elif written:
            stats.record_batch(written)
            if self.refused is not None:
                took = self._clock() - self.refused.since
                _logger.warning("eventlog_writes_resumed", path=self.path, refused_for_s=took)
                self.refused = None
            self._on_committed()
