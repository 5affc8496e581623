"""Bulk folds over two cores: SQLite builds each chunk of events while Python folds the last.

A replay of the whole log (`StreamFolder.fold_all`: audits, projections) is bound by
per-event Python work. Reading rows as Python tuples costs more than decoding them, and it
holds the GIL that the fold needs. So each chunk is asked of SQLite as three JSON arrays
(seqs, stream ids, bodies) built in C inside one `sqlite3_step`, which runs without the GIL,
on the reader thread; meanwhile a fold thread decodes the chunk before it in three msgspec
calls and folds it. The fold thread drives the pipeline itself, submitting each read to the
reader's executor, so the event loop is not woken per chunk and other reads still get in
between chunks.

Two things keep this honest:

* SQLite does not promise `group_concat`'s order, so the chunk carries its seqs and is used
  only if they are ascending and every array has one entry per row (a damaged body could
  otherwise spill into its neighbour's place). A chunk that fails either check, or does not
  decode (a row of an older tag, a garbled body), is read again row by row, where the
  upcasters or an error naming the seq take over.
* An SQLite without `json_quote` (JSON1) gets the same pipeline with plain rows.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, NamedTuple, TypeVar

import msgspec

from eventlog.decoding import Row, decode_stored_at, fast_decode
from eventlog.errors import EventLogClosedError
from eventlog.events import AnyEvent
from eventlog.records import prefix_range

T = TypeVar("T")
Step = Callable[[list[str], list[AnyEvent]], None]

# `+stream_id` keeps the planner on the primary key's seq order when a prefix is given;
# without it SQLite would walk the stream index and sort the chunk.
_CHUNK_SQL = (
    "SELECT count(*), max(seq), "
    "CAST('[' || group_concat(seq) || ']' AS BLOB), "
    "CAST('[' || group_concat(json_quote(stream_id)) || ']' AS BLOB), "
    "CAST('[' || group_concat(CAST(body AS TEXT)) || ']' AS BLOB) "
    "FROM (SELECT seq, stream_id, body FROM events WHERE seq > ?{where} ORDER BY seq LIMIT ?)"
)
_CHUNK_ROWS_SQL = (
    "SELECT seq, stream_id, body FROM events WHERE seq > ?{where} ORDER BY seq LIMIT ?"
)
_RANGE_ROWS_SQL = (
    "SELECT seq, stream_id, body FROM events WHERE seq > ? AND seq <= ?{where} ORDER BY seq"
)
_PREFIX = " AND +stream_id >= ? AND +stream_id < ?"

_decode_seqs = msgspec.json.Decoder(list[int]).decode
_decode_streams = msgspec.json.Decoder(list[str]).decode
_decode_events = msgspec.json.Decoder(list[AnyEvent]).decode

# Events folded between two hand-overs of the GIL. The reader thread needs the GIL only to
# start a query and to hand over its result, but while the fold holds it, each of those
# waits out the interpreter's switch interval (5 ms), which is longer than the query itself.
YIELD_EVERY = 1000


def json_chunks_supported(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite can build JSON chunks (JSON1: built in since 3.38, compiled into
    most older builds)."""
    try:
        conn.execute("SELECT json_quote('')").fetchone()
    except sqlite3.OperationalError:
        return False
    return True


class Chunk(NamedTuple):
    """One chunk: the JSON arrays SQLite built, or the rows themselves."""

    size: int
    last_seq: int
    seqs: bytes = b"[]"
    streams: bytes = b"[]"
    bodies: bytes = b"[]"
    rows: list[Row] | None = None


class Reads(NamedTuple):
    """How the fold thread reaches the reader thread and its connection."""

    submit: Callable[..., Future[Any]]  # runs fn(conn, *args) on the reader thread, guarded
    json_chunks: bool


class Progress:
    """What a fold has done so far, readable after it fails."""

    __slots__ = ("events", "queries")

    def __init__(self) -> None:
        self.events = 0
        self.queries = 0


def run_fold(
    reads: Reads,
    step: Step,
    *,
    after_seq: int,
    chunk: int,
    prefix: str,
    stop: threading.Event,
    progress: Progress,
) -> None:
    """The fold thread's loop: read chunk N+1 while folding chunk N, until a short chunk.

    Stops with EventLogClosedError at the next chunk once `stop` is set.
    """
    bounds = prefix_range(prefix) if prefix else ()
    where = _PREFIX if prefix else ""
    reader = _read_chunk if reads.json_chunks else _read_chunk_rows
    chunk_sql = (_CHUNK_SQL if reads.json_chunks else _CHUNK_ROWS_SQL).format(where=where)

    def read(fn: Callable[..., T], sql: str, params: tuple[Any, ...]) -> Future[T]:
        if stop.is_set():
            raise EventLogClosedError("the fold was abandoned")
        progress.queries += 1
        try:
            return reads.submit(fn, sql, params)
        except RuntimeError as exc:  # the reader's executor has shut down
            raise EventLogClosedError("the event log closed during a fold") from exc

    after = after_seq
    pending: Future[Chunk] | None = read(reader, chunk_sql, (after, *bounds, chunk))
    while pending is not None:
        got = pending.result()
        pending = None
        if got.size == chunk:
            pending = read(reader, chunk_sql, (got.last_seq, *bounds, chunk))
        if got.size == 0:
            break
        try:
            if not _fold_chunk(got, step):
                rows_sql = _RANGE_ROWS_SQL.format(where=where)
                rows = read(fetchall, rows_sql, (after, got.last_seq, *bounds)).result()
                _fold_rows(rows, step)
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        progress.events += got.size
        after = got.last_seq


def _fold_chunk(chunk: Chunk, step: Step) -> bool:
    """Decode and fold one chunk; False if it must be read again row by row."""
    if chunk.rows is not None:
        _fold_rows(chunk.rows, step)
        return True
    try:
        seqs = _decode_seqs(chunk.seqs)
        streams = _decode_streams(chunk.streams)
        events = _decode_events(chunk.bodies)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    if not len(seqs) == len(streams) == len(events) == chunk.size or seqs != sorted(seqs):
        return False
    _step_in_slices(step, streams, events)
    return True


def _fold_rows(rows: list[Row], step: Step) -> None:
    """The slow path: `(seq, stream_id, body)` rows one at a time, through the upcasters."""
    streams: list[str] = []
    events: list[AnyEvent] = []
    for seq, stream_id, body in rows:
        try:
            event = fast_decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            event = decode_stored_at(body, seq, f"stream {stream_id!r}")
        streams.append(stream_id)
        events.append(event)
    _step_in_slices(step, streams, events)


def _step_in_slices(step: Step, streams: list[str], events: list[AnyEvent]) -> None:
    if len(events) <= YIELD_EVERY:
        step(streams, events)
        return
    for start in range(0, len(events), YIELD_EVERY):
        time.sleep(0)  # hand the GIL to the reader thread, if it is waiting for it
        end = start + YIELD_EVERY
        step(streams[start:end], events[start:end])


def _read_chunk(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Chunk:
    size, last, seqs, streams, bodies = conn.execute(sql, params).fetchone()
    if not size:
        return Chunk(0, 0)
    return Chunk(int(size), int(last), bytes(seqs), bytes(streams), bytes(bodies))


def _read_chunk_rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Chunk:
    rows = conn.execute(sql, params).fetchall()
    return Chunk(len(rows), int(rows[-1][0]) if rows else 0, rows=rows)


def fetchall(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[Row]:
    """Every row of `sql`: the plain read, on the reader thread (the reader's own too)."""
    return conn.execute(sql, params).fetchall()
