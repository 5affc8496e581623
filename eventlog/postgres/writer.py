"""The PostgreSQL log's writer: one connection, one task, group commit.

Appends queue with their future; the writer task takes everything queued (up to `max_batch`)
into one transaction, which locks the `head` row (so writers on other connections take
turns and the chain stays one line), checks the fence (the leader's epoch, docs/ha.md),
looks up the batch's streams, plans the batch with the pure planner the SQLite
writer uses too (`eventlog.writes.plan`: the same version checks and the same chain), and
writes each table with one array statement. A future resolves once COMMIT has returned.

A connection lost during COMMIT leaves the outcome unknown (`WriterLostError`); lost before,
nothing was written (`EventLogUnavailableError`). The next batch reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from eventlog.errors import (
    EventLogClosedError,
    EventLogError,
    EventLogUnavailableError,
    WriterLostError,
)
from eventlog.records import AppendResult, WriterStats, WritesRefused
from eventlog.writes.items import Appended, AppendItem, Archived, Conflict, Item, error_of
from eventlog.writes.plan import (
    BatchPlan,
    StreamChange,
    cache_looked_up,
    plan_batch,
    streams_to_look_up,
)

_logger = structlog.get_logger("eventlog")

INSERT_EVENTS = (
    "INSERT INTO events (seq, stream_id, version, type, body, recorded_at, hash) "
    "SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bytea[], "
    "$6::float8[], $7::bytea[])"
)
EVENT_COLUMNS = ("seq", "stream_id", "version", "type", "body", "recorded_at", "hash")
UPSERT_STREAMS = (
    "INSERT INTO streams AS s (stream_id, version, closed, updated_at) "
    "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bool[], $4::float8[]) "
    "ON CONFLICT (stream_id) DO UPDATE SET version = greatest(s.version, excluded.version), "
    "closed = s.closed OR excluded.closed, updated_at = excluded.updated_at"
)
# A stream's current version: its newest event's, or its row's if later (written at creation
# and close; retention may have removed the events).
CURRENT_VERSION = (
    "greatest(s.version, coalesce((SELECT max(e.version) FROM events e "
    "WHERE e.stream_id = s.stream_id), 0))"
)
LOOKUP_STREAMS = (
    f"SELECT s.stream_id, {CURRENT_VERSION}, s.archived_at FROM streams s "
    "WHERE s.stream_id = ANY($1)"
)
UPDATE_HEAD = "UPDATE head SET seq = $1, hash = $2 WHERE id = 1 RETURNING pg_notify($3, $4)"
REOPEN_STREAMS = "UPDATE streams SET closed = false, updated_at = $2 WHERE stream_id = ANY($1)"
UPSERT_SNAPSHOTS = (
    "INSERT INTO snapshots (stream_id, version, schema_version, state, taken_at) "
    "SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[], $4::bytea[], $5::float8[]) "
    "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, "
    "schema_version = excluded.schema_version, state = excluded.state, "
    "taken_at = excluded.taken_at"
)
UPSERT_SUMMARIES = (
    "INSERT INTO job_summaries (job_id, stream_id, datasource, interval_start, interval_end, "
    "phase, position, changed_at, body) SELECT * FROM unnest($1::text[], $2::text[], "
    "$3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::float8[], $9::bytea[]) "
    "ON CONFLICT (job_id) DO UPDATE SET stream_id = excluded.stream_id, "
    "datasource = excluded.datasource, interval_start = excluded.interval_start, "
    "interval_end = excluded.interval_end, phase = excluded.phase, "
    "position = excluded.position, changed_at = excluded.changed_at, body = excluded.body"
)
# The fence: the leadership row, locked FOR SHARE so a takeover (an UPDATE of it) waits for
# this transaction and no append of an older epoch can commit after a newer epoch began.
FENCE = (
    "SELECT holder, epoch, expires_at > clock_timestamp() FROM leadership WHERE id = 1 FOR SHARE"
)
NOTIFY_CHANNEL = "druid_orch_log"
# What the driver raises when the server or the connection fails (InternalClientError: a
# connection cut in the middle of an operation).
DRIVER_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


class FencedOffError(EventLogError):
    """This process is no longer the leader: its lease expired or a newer epoch took over.

    Nothing was written. Not retryable here: the process must step down to standby.
    """


@dataclass(frozen=True, slots=True)
class Fence:
    """The leadership an append must still hold to commit: holder name and epoch."""

    holder: str
    epoch: int


def columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


class PgWriter:
    """The one task and connection that write to the log, batching what is queued."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        where: str,
        *,
        max_batch: int,
        clock: Callable[[], float],
        stats: WriterStats,
        on_committed: Callable[[], None],
    ) -> None:
        self._connect = connect
        self.where = where
        self.max_batch = max_batch
        self._clock = clock
        self.stats = stats
        self._on_committed = on_committed
        self._queue: list[tuple[Item, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.fence: Fence | None = None
        self.on_fenced: Callable[[FencedOffError], None] | None = None
        self.refused: WritesRefused | None = None
        # The writer's view of the tip, as the SQLite writer keeps it: the head it last
        # committed, and the versions of streams it appended to since (a cache, dropped when
        # another connection moved the head).
        self._head: tuple[int, bytes] = (-1, b"")
        self.versions: dict[str, int] = {}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="pg-writer")

    def queue(self, item: Item) -> asyncio.Future[Any]:
        if self._closing or self._task is None:
            raise EventLogClosedError(f"event log {self.where} is closed")
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        self._wake.set()
        return done

    async def stop(self) -> None:
        """Commit what is queued, then close the connection."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    @property
    def writing(self) -> bool:
        return self._task is not None and not self._closing

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            try:
                outcomes = await self._commit([item for item, _ in batch])
            except EventLogError as exc:
                self._refuse(exc)
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if isinstance(exc, FencedOffError) and self.on_fenced is not None:
                    self.on_fenced(exc)
                continue
            self._settle(batch, outcomes)

    def _refuse(self, exc: EventLogError) -> None:
        self.stats.failed_batches += 1
        if self.refused is None:
            _logger.error("eventlog_refusing_writes", where=self.where, reason=str(exc))
            self.refused = WritesRefused(self._clock(), str(exc))
        else:
            self.refused = WritesRefused(self.refused.since, str(exc))

    def _settle(self, batch: list[tuple[Item, asyncio.Future[Any]]], outcomes: list[Any]) -> None:
        written = 0
        for (item, done), outcome in zip(batch, outcomes, strict=True):
            if type(outcome) is Appended:
                self.stats.appends += 1
                assert type(item) is AppendItem
                written += len(item.events)
                if not done.done():
                    done.set_result(
                        AppendResult(outcome.first_seq, outcome.last_seq, outcome.version)
                    )
            elif type(outcome) in (Conflict, Archived):
                self.stats.conflicts += type(outcome) is Conflict
                if not done.done():
                    done.set_exception(error_of(outcome))
            else:
                self.stats.snapshots += 1
                if not done.done():
                    done.set_result(None)
        if written:
            self.stats.record_batch(written)
        self.refused = None
        self._on_committed()

    async def _commit(self, items: list[Item]) -> list[Any]:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await self._connect()
            conn = self._conn
        except DRIVER_ERRORS as exc:
            self._conn = None
            raise EventLogUnavailableError(
                f"cannot reach the event log {self.where} ({exc}); "
                f"none of the {len(items)} queued writes were made"
            ) from exc
        tx = conn.transaction()
        committing = False
        try:
            await tx.start()
            plan = await self._write(conn, items)
            committing = True
            await tx.commit()
            self._head = (plan.head_seq, plan.head_hash)
            self.versions.update(plan.versions)
        except BaseException as exc:
            self.versions.clear()  # what this batch planned did not happen (or may not have)
            self._head = (-1, b"")
            if not committing and not conn.is_closed():
                with contextlib.suppress(*DRIVER_ERRORS):
                    await tx.rollback()
            if isinstance(exc, EventLogError):
                raise
            if isinstance(exc, DRIVER_ERRORS):
                lost = conn.is_closed() or isinstance(
                    exc, OSError | asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError
                )
                if lost:
                    self._conn = None
                if committing and lost:
                    raise WriterLostError(
                        f"the connection to {self.where} was lost during COMMIT ({exc}); "
                        "the writes may or may not have been made",
                        how="connection lost",
                    ) from exc
                raise EventLogUnavailableError(
                    f"could not commit to {self.where} ({exc}); "
                    f"none of the {len(items)} queued writes were made"
                ) from exc
            raise
        return plan.outcomes

    async def _write(self, conn: Any, items: list[Item]) -> BatchPlan:
        """Plan and write one batch inside the open transaction."""
        head_seq, head_hash = await conn.fetchrow(
            "SELECT seq, hash FROM head WHERE id = 1 FOR UPDATE"
        )
        fence = self.fence
        if fence is not None:
            row = await conn.fetchrow(FENCE)
            if row is None or row[0] != fence.holder or row[1] != fence.epoch or not row[2]:
                holder, epoch = (row[0], row[1]) if row is not None else (None, 0)
                lease = "expired" if holder == fence.holder else f"held by {holder!r}"
                raise FencedOffError(
                    f"{fence.holder} (epoch {fence.epoch}) no longer leads {self.where}: "
                    f"the lease is {lease} at epoch {epoch}; nothing was written"
                )
        head_hash = bytes(head_hash)
        if (head_seq, head_hash) != self._head:
            # Another connection appended: its streams' versions moved on without us.
            self.versions.clear()
        missing = streams_to_look_up(items, self.versions)
        archived: dict[str, Archived] = {}
        if missing:
            found = {
                sid: (version, archived_at)
                for sid, version, archived_at in await conn.fetch(LOOKUP_STREAMS, missing)
            }
            archived = cache_looked_up(self.versions, missing, found)
        now = self._clock()
        plan = plan_batch(items, self.versions, archived, head_seq, head_hash, now)
        if plan.events:
            # COPY, not the unnest INSERT: asyncpg encodes seven arrays element by element,
            # with an abstract-class check per element, the largest Python cost of a batch.
            await conn.copy_records_to_table("events", records=plan.events, columns=EVENT_COLUMNS)
            # The head and the followers' wake-up in one round trip (NOTIFY goes at COMMIT).
            await conn.execute(
                UPDATE_HEAD, plan.head_seq, plan.head_hash, NOTIFY_CHANNEL, str(plan.head_seq)
            )
        # A stream's row changes only when it is created, closed or reopened; its current
        # version is its newest event's (LOOKUP_STREAMS), as in the SQLite file.
        if plan.streams:
            rows = [
                (sid, plan.versions[sid], change is StreamChange.CLOSED, now)
                for sid, change in plan.streams.items()
                if change is not StreamChange.REOPENED
            ]
            if rows:
                await conn.execute(UPSERT_STREAMS, *columns(rows, 4))
            reopened = [s for s, c in plan.streams.items() if c is StreamChange.REOPENED]
            if reopened:
                await conn.execute(REOPEN_STREAMS, reopened, now)
        if plan.snapshots:
            await conn.execute(UPSERT_SNAPSHOTS, *columns(plan.snapshots, 5))
        if plan.summaries:
            await conn.execute(UPSERT_SUMMARIES, *columns(list(plan.summaries.values()), 9))
        return plan
