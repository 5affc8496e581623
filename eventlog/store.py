"""The SQLite event journal.

Theory of operation
-------------------
One writer task owns the only write connection. `append()` puts an `_Append` on the writer's
queue and awaits its future. The writer drains whatever is queued into one transaction (group
commit): it checks each append's expected stream version against its in-memory view of the
streams, assigns global `seq` numbers and per-stream versions, extends the hash chain, inserts
all rows with one `executemany`, commits, and only then resolves the futures. A future that has
resolved therefore names events that are on disk (with `synchronous=FULL`, even across power
loss); a future that has not resolved may or may not be, and that is the only thing a crash
(SIGKILL) can take away. An append whose expected version is stale fails alone with
`ConcurrencyConflictError`; the rest of its batch commits.

If a commit fails (disk full, read-only file), the transaction is rolled back, the writer's
in-memory view is left as it was before the batch, every append of the batch fails with
`EventLogUnavailableError`, and the writer carries on with the next batch, so the caller can
retry.

Hash chain: `hash(n) = sha256(hash(n-1) || seq || stream || version || type || recorded_at ||
body)`. The newest seq and hash are also kept in `meta`, in the same transaction, so truncating
the tail is detected too. Retention (`eventlog.retention`) removes old rows but writes a
checkpoint row that carries the chain across the gap.

Readers use their own connection (WAL lets them read while the writer commits).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiosqlite
import msgspec

from eventlog.errors import (
    ConcurrencyConflictError,
    CorruptEventError,
    EventLogClosedError,
    EventLogError,
    EventLogUnavailableError,
    SchemaVersionError,
)
from eventlog.events import AnyEvent, Event, decode_event, encode_event, event_tag

SCHEMA_VERSION = 1
APPLICATION_ID = 0x44524F43  # "DROC": marks a file as ours, so a foreign SQLite file is refused
GENESIS_HASH = b"\x00" * 32
ANY_VERSION = -1

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

_SCHEMA = """
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    body        BLOB    NOT NULL,
    recorded_at REAL    NOT NULL,
    hash        BLOB    NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE TABLE streams (
    stream_id   TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    closed      INTEGER NOT NULL DEFAULT 0,
    updated_at  REAL    NOT NULL
);
CREATE INDEX streams_open ON streams (closed, stream_id);
CREATE TABLE snapshots (
    stream_id      TEXT PRIMARY KEY,
    version        INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    state          BLOB    NOT NULL,
    taken_at       REAL    NOT NULL
);
CREATE TABLE checkpoints (
    after_seq   INTEGER PRIMARY KEY,
    hash        BLOB    NOT NULL,
    archived_to TEXT    NOT NULL,
    removed     INTEGER NOT NULL,
    taken_at    REAL    NOT NULL
);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""


class Recorded(msgspec.Struct, frozen=True):
    """One stored event with its place in the log."""

    seq: int
    stream_id: str
    version: int
    recorded_at: float
    event: AnyEvent


class AppendResult(msgspec.Struct, frozen=True):
    first_seq: int
    last_seq: int
    version: int


@dataclass(slots=True)
class _Append:
    stream_id: str
    events: Sequence[Event]
    expected_version: int
    close_stream: bool
    done: asyncio.Future[AppendResult]


@dataclass(slots=True)
class _Snapshot:
    stream_id: str
    version: int
    schema_version: int
    state: bytes
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Barrier:
    """Runs `action` on the write connection between batches (retention, maintenance)."""

    action: Callable[[sqlite3.Connection], object]
    done: asyncio.Future[object]


@dataclass(slots=True)
class WriterStats:
    batches: int = 0
    appends: int = 0
    events: int = 0
    conflicts: int = 0
    failed_batches: int = 0
    batch_sizes: list[int] = field(default_factory=list)


def chain_hash(
    prev: bytes, seq: int, stream_id: str, version: int, type_: str, recorded_at: float, body: bytes
) -> bytes:
    h = hashlib.sha256(prev)
    h.update(f"{seq}\x1f{stream_id}\x1f{version}\x1f{type_}\x1f{recorded_at!r}\x1f".encode())
    h.update(body)
    return h.digest()


class EventLog:
    """Append-only, hash-chained, group-committed event journal on SQLite (WAL mode)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "FULL",
        max_batch: int = 2048,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = str(path)
        self.synchronous: Synchronous = synchronous
        self.max_batch = max_batch
        self._clock = clock
        self._writer_conn: aiosqlite.Connection | None = None
        self._reader_conn: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[_Append | _Snapshot | _Barrier | None] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None
        self._versions: dict[str, int] = {}
        self._last_seq = 0
        self._last_hash = GENESIS_HASH
        self._committed = asyncio.Event()
        self._closing = False
        self.stats = WriterStats()

    # --- lifecycle ---------------------------------------------------------------------

    @classmethod
    async def open(cls, path: str | Path, **kwargs: object) -> EventLog:
        log = cls(path, **kwargs)  # type: ignore[arg-type]
        await log._open()
        return log

    async def __aenter__(self) -> EventLog:
        if self._writer_conn is None:
            await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _open(self) -> None:
        try:
            self._writer_conn = await aiosqlite.connect(self.path, isolation_level=None)
            await self._prepare_writer(self._writer_conn)
            self._reader_conn = await aiosqlite.connect(self.path, isolation_level=None)
            await _exec(self._reader_conn, "PRAGMA query_only = ON")
        except sqlite3.DatabaseError as exc:
            await self._close_connections()
            raise CorruptEventError(f"{self.path} is not a readable event log: {exc}") from exc
        except EventLogError:
            await self._close_connections()
            raise
        self._writer_task = asyncio.create_task(self._writer(), name=f"eventlog-writer:{self.path}")

    async def _prepare_writer(self, conn: aiosqlite.Connection) -> None:
        await _exec(conn, "PRAGMA busy_timeout = 5000")
        app_id = await _scalar(conn, "PRAGMA application_id")
        user_version = await _scalar(conn, "PRAGMA user_version")
        tables = await _scalar(conn, "SELECT count(*) FROM sqlite_master WHERE type='table'")
        if app_id == 0 and user_version == 0 and tables == 0:
            await _exec(conn, "PRAGMA journal_mode = WAL")
            await conn.executescript(
                "BEGIN;"
                + _SCHEMA
                + f"PRAGMA application_id = {APPLICATION_ID};"
                + f"PRAGMA user_version = {SCHEMA_VERSION};"
                + "COMMIT;"
            )
        elif app_id != APPLICATION_ID:
            raise CorruptEventError(
                f"{self.path} is an SQLite file of another application "
                f"(application_id={app_id}, {tables} tables); refusing to use it as an event log"
            )
        elif user_version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.path} has schema version {user_version}, newer than this "
                f"druid-orchestrator understands ({SCHEMA_VERSION}); upgrade druid-orchestrator"
            )
        else:
            from eventlog.migrations import migrate

            await migrate(conn, user_version, SCHEMA_VERSION)
        mode = await _scalar(conn, "PRAGMA journal_mode = WAL")
        if str(mode).lower() != "wal":
            raise EventLogUnavailableError(f"{self.path}: cannot switch to WAL mode (got {mode})")
        await _exec(conn, f"PRAGMA synchronous = {self.synchronous}")
        async with conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1") as cur:
            row = await cur.fetchone()
        if row is not None:
            self._last_seq, self._last_hash = int(row[0]), bytes(row[1])
        else:
            async with conn.execute(
                "SELECT after_seq, hash FROM checkpoints ORDER BY after_seq DESC LIMIT 1"
            ) as cur:
                cp = await cur.fetchone()
            if cp is not None:
                self._last_seq, self._last_hash = int(cp[0]), bytes(cp[1])

    async def close(self) -> None:
        """Drain queued appends, stop the writer and close both connections."""
        if self._writer_task is not None and not self._writer_task.done():
            self._closing = True
            await self._queue.put(None)
            try:
                await self._writer_task
            finally:
                self._writer_task = None
        await self._close_connections()

    async def _close_connections(self) -> None:
        for conn in (self._reader_conn, self._writer_conn):
            if conn is not None:
                await conn.close()
        self._reader_conn = self._writer_conn = None

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

        Returns once the transaction holding the events has committed.

        Raises:
            ConcurrencyConflictError: the stream is at another version; nothing was written.
            EventLogUnavailableError: the commit failed (disk full, read-only); nothing was
                written and the append may be retried.
            EventLogClosedError: the log is closed.
        """
        if not events:
            raise ValueError("append needs at least one event")
        if self._closing or self._writer_task is None or self._writer_task.done():
            raise EventLogClosedError(f"event log {self.path} is closed")
        done: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Append(stream_id, events, expected_version, close_stream, done))
        return await done

    def stream_version(self, stream_id: str) -> int | None:
        """The writer's cached version of a stream, if it has seen the stream."""
        return self._versions.get(stream_id)

    async def save_snapshot(
        self, stream_id: str, version: int, schema_version: int, state: bytes
    ) -> None:
        """Store the folded state of `stream_id` at `version`, replacing any older snapshot."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Snapshot(stream_id, version, schema_version, state, done))
        await done

    async def run_exclusive(self, action: Callable[[sqlite3.Connection], object]) -> object:
        """Run `action(conn)` on the writer's thread between two batches (for maintenance)."""
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Barrier(action, done))
        return await done

    async def _writer(self) -> None:
        assert self._writer_conn is not None
        while True:
            item = await self._queue.get()
            if item is None:
                self._fail_queued(EventLogClosedError(f"event log {self.path} closed"))
                return
            batch: list[_Append] = []
            others: list[_Snapshot | _Barrier] = []
            stop = False
            while True:
                if isinstance(item, _Append):
                    batch.append(item)
                elif item is None:
                    stop = True
                    break
                else:
                    others.append(item)
                if len(batch) >= self.max_batch or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            if batch:
                await self._commit_batch(batch)
            for other in others:
                await self._run_other(other)
            if stop:
                self._fail_queued(EventLogClosedError(f"event log {self.path} closed"))
                return

    def _fail_queued(self, exc: EventLogError) -> None:
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None and not item.done.done():
                item.done.set_exception(exc)

    async def _current_version(self, stream_id: str) -> int:
        cached = self._versions.get(stream_id)
        if cached is not None:
            return cached
        assert self._writer_conn is not None
        async with self._writer_conn.execute(
            "SELECT version FROM streams WHERE stream_id = ?", (stream_id,)
        ) as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        self._versions[stream_id] = version
        return version

    async def _commit_batch(self, batch: list[_Append]) -> None:
        conn = self._writer_conn
        assert conn is not None
        now = self._clock()
        seq, prev = self._last_seq, self._last_hash
        tentative: dict[str, int] = {}
        closed: set[str] = set()
        rows: list[tuple[int, str, int, str, bytes, float, bytes]] = []
        accepted: list[tuple[_Append, AppendResult]] = []
        for item in batch:
            current = tentative.get(item.stream_id)
            if current is None:
                current = await self._current_version(item.stream_id)
            if item.expected_version not in (ANY_VERSION, current):
                self.stats.conflicts += 1
                item.done.set_exception(
                    ConcurrencyConflictError(item.stream_id, item.expected_version, current)
                )
                continue
            first = seq + 1
            for event in item.events:
                seq += 1
                current += 1
                body = encode_event(event)
                tag = event_tag(event)
                prev = chain_hash(prev, seq, item.stream_id, current, tag, now, body)
                rows.append((seq, item.stream_id, current, tag, body, now, prev))
            tentative[item.stream_id] = current
            if item.close_stream:
                closed.add(item.stream_id)
            accepted.append((item, AppendResult(first, seq, current)))
        if not accepted:
            return
        try:
            await _exec(conn, "BEGIN IMMEDIATE")
            await conn.executemany(
                "INSERT INTO events (seq, stream_id, version, type, body, recorded_at, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            await conn.executemany(
                "INSERT INTO streams (stream_id, version, closed, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, "
                "closed = max(closed, excluded.closed), updated_at = excluded.updated_at",
                [(s, v, int(s in closed), now) for s, v in tentative.items()],
            )
            await _exec(
                conn,
                "INSERT INTO meta (key, value) VALUES ('head', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (msgspec.json.encode([seq, prev.hex()]),),
            )
            await _exec(conn, "COMMIT")
        except sqlite3.Error as exc:
            await _rollback(conn)
            self.stats.failed_batches += 1
            error = EventLogUnavailableError(
                f"could not commit {len(rows)} events to {self.path}: {exc}"
            )
            error.__cause__ = exc
            for item, _ in accepted:
                item.done.set_exception(error)
            return
        self._last_seq, self._last_hash = seq, prev
        self._versions.update(tentative)
        self.stats.batches += 1
        self.stats.appends += len(accepted)
        self.stats.events += len(rows)
        if len(self.stats.batch_sizes) < 100_000:
            self.stats.batch_sizes.append(len(rows))
        for item, result in accepted:
            if not item.done.done():
                item.done.set_result(result)
        self._committed.set()
        self._committed = asyncio.Event()

    async def _run_other(self, item: _Snapshot | _Barrier) -> None:
        conn = self._writer_conn
        assert conn is not None
        try:
            if isinstance(item, _Snapshot):
                await _exec(
                    conn,
                    "INSERT INTO snapshots (stream_id, version, schema_version, state, taken_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET "
                    "version = excluded.version, schema_version = excluded.schema_version, "
                    "state = excluded.state, taken_at = excluded.taken_at",
                    (item.stream_id, item.version, item.schema_version, item.state, self._clock()),
                )
                item.done.set_result(None)
            else:
                # Runs on aiosqlite's thread, so it never blocks the event loop.
                result = await conn._execute(item.action, conn._conn)  # type: ignore[no-untyped-call]
                item.done.set_result(result)
        except Exception as exc:  # the caller gets the error; the writer keeps going
            await _rollback(conn)
            if not item.done.done():
                item.done.set_exception(exc)

    # --- reading -----------------------------------------------------------------------

    def _reader(self) -> aiosqlite.Connection:
        if self._reader_conn is None:
            raise EventLogClosedError(f"event log {self.path} is closed")
        return self._reader_conn

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[Recorded]:
        """Every event of `stream_id` with a version greater than `after_version`, in order."""
        async with self._reader().execute(
            "SELECT seq, stream_id, version, recorded_at, body FROM events "
            "WHERE stream_id = ? AND version > ? ORDER BY version",
            (stream_id, after_version),
        ) as cur:
            rows = await cur.fetchall()
        return [_decode_row(row) for row in rows]

    async def read_all(self, after_seq: int = 0, *, chunk: int = 1000) -> AsyncIterator[Recorded]:
        """All events with seq greater than `after_seq`, in global order, `chunk` rows at a time."""
        last = after_seq
        while True:
            async with self._reader().execute(
                "SELECT seq, stream_id, version, recorded_at, body FROM events "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (last, chunk),
            ) as cur:
                rows = await cur.fetchall()
            if not rows:
                return
            for row in rows:
                recorded = _decode_row(row)
                last = recorded.seq
                yield recorded

    async def subscribe(self, after_seq: int = 0, *, chunk: int = 1000) -> AsyncIterator[Recorded]:
        """Like `read_all`, then follows new events as they commit, until cancelled or closed."""
        last = after_seq
        while True:
            waiter = self._committed
            async for recorded in self.read_all(last, chunk=chunk):
                last = recorded.seq
                yield recorded
            if self._writer_task is None or self._writer_task.done():
                return
            await waiter.wait()

    async def open_streams(self, prefix: str = "") -> list[tuple[str, int]]:
        """Streams that have not been closed, with their versions, optionally by id prefix."""
        async with self._reader().execute(
            "SELECT stream_id, version FROM streams WHERE closed = 0 AND stream_id >= ? "
            "AND stream_id < ? ORDER BY stream_id",
            (prefix, prefix + "\U0010ffff"),
        ) as cur:
            rows = await cur.fetchall()
        return [(str(r[0]), int(r[1])) for r in rows]

    async def all_streams(self, prefix: str = "") -> list[tuple[str, int, bool]]:
        async with self._reader().execute(
            "SELECT stream_id, version, closed FROM streams WHERE stream_id >= ? "
            "AND stream_id < ? ORDER BY stream_id",
            (prefix, prefix + "\U0010ffff"),
        ) as cur:
            rows = await cur.fetchall()
        return [(str(r[0]), int(r[1]), bool(r[2])) for r in rows]

    async def load_snapshot(self, stream_id: str, schema_version: int) -> tuple[int, bytes] | None:
        """The latest snapshot of `stream_id`, or None if absent or of another schema version."""
        async with self._reader().execute(
            "SELECT version, schema_version, state FROM snapshots WHERE stream_id = ?",
            (stream_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None or int(row[1]) != schema_version:
            return None
        return int(row[0]), bytes(row[2])

    async def last_seq(self) -> int:
        return int(await _scalar(self._reader(), "SELECT coalesce(max(seq), 0) FROM events"))


def _decode_row(row: sqlite3.Row | tuple[Any, ...]) -> Recorded:
    seq = int(row[0])
    try:
        event = decode_event(bytes(row[4]))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CorruptEventError(f"cannot decode stored event ({exc})", seq=seq) from exc
    return Recorded(seq, str(row[1]), int(row[2]), float(row[3]), event)


async def _scalar(conn: aiosqlite.Connection, sql: str) -> Any:
    async with conn.execute(sql) as cur:
        row = await cur.fetchone()
    return row[0] if row else None


async def _exec(conn: aiosqlite.Connection, sql: str, params: Sequence[object] = ()) -> None:
    """Run one statement and close its cursor (an open cursor blocks COMMIT)."""
    async with conn.execute(sql, params):
        pass


async def _rollback(conn: aiosqlite.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):  # no transaction was open
        await _exec(conn, "ROLLBACK")
