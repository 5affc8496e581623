"""The SQL the writer runs, and how it hands SQLite many rows at once."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any

INSERT_EVENTS = (
    "INSERT INTO events (seq, stream_id, version, type, body, recorded_at, hash) VALUES ",
    7,
    "",
)
UPSERT_STREAMS = (
    "INSERT INTO streams (stream_id, version, closed, updated_at) VALUES ",
    4,
    " ON CONFLICT (stream_id) DO UPDATE SET version = max(version, excluded.version), "
    "closed = max(closed, excluded.closed), updated_at = excluded.updated_at",
)
UPSERT_SNAPSHOTS = (
    "INSERT INTO snapshots (stream_id, version, schema_version, state, taken_at) VALUES ",
    5,
    " ON CONFLICT (stream_id) DO UPDATE SET "
    "version = excluded.version, schema_version = excluded.schema_version, "
    "state = excluded.state, taken_at = excluded.taken_at",
)
# `closed` only ever grows through UPSERT_STREAMS; a retried job's stream is opened again.
REOPEN_STREAM = "UPDATE streams SET closed = 0, updated_at = ? WHERE stream_id = ?"
UPSERT_HEAD = (
    "INSERT INTO meta (key, value) VALUES ('head', ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
# A stream's current version: its row's (written at creation and close), or its newest
# event's if that is later. A stream with no row has no events (both are written together).
LOOKUP_STREAMS = (
    "SELECT s.stream_id, max(s.version, coalesce((SELECT max(e.version) FROM events e "
    "WHERE e.stream_id = s.stream_id), 0)), s.archived_at FROM streams s "
    "WHERE s.stream_id IN ({})"
)
_CHUNKS = (256, 64, 16, 4, 1)


@functools.cache
def _multi_row_sql(head: str, width: int, rows: int, tail: str) -> str:
    one = "(" + ", ".join("?" * width) + ")"
    return head + ", ".join([one] * rows) + tail


def insert_rows(
    conn: sqlite3.Connection, statement: tuple[str, int, str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` with multi-row VALUES statements of a few fixed sizes.

    Not `executemany`: that binds and steps one row at a time, taking the GIL back between
    rows, and while the event loop is busy each take can wait a whole switch interval
    (5 ms), so a batch crawls exactly when the loop has the most work. One statement per
    256 rows runs almost all of SQLite's work with the GIL released. The fixed sizes keep
    the statements in sqlite3's statement cache.
    """
    head, width, tail = statement
    done, total = 0, len(rows)
    for size in _CHUNKS:
        if total - done < size:
            continue
        sql = _multi_row_sql(head, width, size, tail)
        while total - done >= size:
            conn.execute(sql, list(chain.from_iterable(rows[done : done + size])))
            done += size
