"""A log file read back without the orchestrator: the audit's and `status --db`'s view.

The file is opened read-only (`mode=ro`), so a reader is safe next to a running daemon and
can never change the log it reads. It is checked first as the writer checks it (an SQLite
file of whole pages, ours, of a schema version we can read, with a sound -wal file), so a
file that is not a log is refused with the reason rather than read as one with no events.
Every refusal is an `UnreadableLogError` whose message names the file and, where a -wal
file was read with it, says so.

The file may come from elsewhere and be crafted: the connection has `connect_read_only`'s
limits, and each column is checked for its type before it is used (an integer where a body
belongs must not become `bytes(n)`), so such a file ends in a refusal, not a traceback or
an allocation the file chose.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventlog.decoding import decode_body
from eventlog.errors import (
    CorruptEventError,
    EventLogError,
    SchemaVersionError,
    UnreadableLogError,
)
from eventlog.records import Recorded, prefix_range
from eventlog.sqlite.header import check_file, connect_read_only, kind_of, wal_note
from eventlog.sqlite.migrations import identify
from eventlog.sqlite.projection import queries as summaries
from eventlog.sqlite.projection.schema import needs_rebuild
from eventlog.summaries import JobSummary, SummaryPage, SummaryQuery

_EVENT_COLUMNS = "seq, stream_id, version, recorded_at, body"
# The columns of a summary row that its struct takes as they are stored (`summary_of`).
_SUMMARY_TYPES: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("job_id", str),
    ("datasource", str),
    ("phase", str),
    ("position", int),
    ("changed_at", (int, float)),
)


class OfflineLog:
    """A read-only connection to an existing log file, handing out its stored events."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def open(cls, db: str | Path) -> OfflineLog:
        """Open the log at `db` read-only, refusing anything that is not a readable log.

        Raises:
            UnreadableLogError: the file is missing, empty, a directory, another
                application's, of a newer schema, truncated or damaged.
        """
        path = Path(db)
        if path.is_dir():
            raise UnreadableLogError(f"{db} is a directory, not an event log file")
        if not path.is_file():
            raise UnreadableLogError(f"no event log at {db}")
        if path.stat().st_size == 0:
            raise UnreadableLogError(
                f"{db} is empty (0 bytes): no event log was ever written to it"
            )
        try:
            check_file(path)
        except EventLogError as exc:
            raise UnreadableLogError(str(exc)) from exc
        try:
            conn = connect_read_only(path)
        except sqlite3.DatabaseError as exc:
            raise UnreadableLogError(f"{db} is not a readable event log: {exc}") from exc
        try:
            if identify(conn, str(db)) == 0:
                raise UnreadableLogError(f"{db} is an empty SQLite database, not an event log")
            # Every column the reads below use, so that a table of another shape is refused here.
            conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events LIMIT 1").fetchall()
        except (CorruptEventError, SchemaVersionError) as exc:
            conn.close()
            raise UnreadableLogError(f"{exc}{wal_note(path)}") from exc
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise UnreadableLogError(
                f"{db} is not a readable event log: {exc}{wal_note(path)}"
            ) from exc
        except UnreadableLogError:
            conn.close()
            raise
        return cls(conn)

    def __enter__(self) -> OfflineLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def records(
        self,
        *,
        after_seq: int = 0,
        since: float | None = None,
        stream_id: str | None = None,
        stream_prefix: str | None = None,
    ) -> Iterator[Recorded]:
        """Stored events in global order, decoded through the upcasters (so logs written by
        older versions read too), from `since`, after `after_seq`, of one stream or all.

        Raises:
            UnreadableLogError: a row cannot be decoded, or a damaged page stops SQLite;
                the message names the seq.
        """
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > ?"
        params: list[Any] = [after_seq]
        if since is not None:
            sql += " AND recorded_at >= ?"
            params.append(since)
        if stream_id is not None:
            sql += " AND stream_id = ?"
            params.append(stream_id)
        if stream_prefix is not None:
            sql += " AND stream_id >= ? AND stream_id < ?"
            params += prefix_range(stream_prefix)
        conn = self._conn
        seq = after_seq  # the last row read whole
        try:
            for seq, sid, version, recorded_at, body in conn.execute(sql + " ORDER BY seq", params):
                if not (
                    isinstance(sid, str)
                    and type(version) is int
                    and isinstance(recorded_at, float | int)
                ):  # a column edited through SQL
                    raise UnreadableLogError(
                        f"{self._file()}: the row at seq {seq} (stream {_shown(sid)}) has a "
                        f"column of the wrong type (version {version!r:.40}, recorded_at "
                        f"{recorded_at!r:.40}, stream_id {kind_of(sid)})"
                    )
                try:
                    event = decode_body((seq, sid, version, recorded_at, body))
                except CorruptEventError as exc:
                    raise UnreadableLogError(
                        f"{self._file()}: event at seq {seq} (stream {sid}) cannot be "
                        f"decoded: {exc}"
                    ) from exc
                yield Recorded(seq, sid, version, float(recorded_at), event)
        except sqlite3.DatabaseError as exc:  # a damaged page: SQLite cannot go on
            what = f"the events of stream {stream_id}" if stream_id is not None else "it"
            raise UnreadableLogError(
                f"{self._file()} is damaged: {what} cannot be read past seq {seq} ({exc}); "
                "`druid-orch audit verify` reports where the damage starts"
            ) from exc

    # --- the read model: the same queries the daemon's readers ask ------------------------

    def summaries_need_rebuild(self) -> bool:
        with self._reading():
            return needs_rebuild(self._conn)

    def job_summaries(self, query: SummaryQuery) -> SummaryPage:
        """A page of job summaries (`eventlog.sqlite.projection.queries.page`)."""
        with self._reading():
            page = summaries.page(self._conn, query)
        for row in page.jobs:
            self._check_summary(row)
        return page

    def job_summary(self, job_id: str) -> JobSummary | None:
        with self._reading():
            found = summaries.one(self._conn, job_id)
        return found if found is None else self._check_summary(found)

    def coverage(
        self, datasource: str, start: str | None = None, end: str | None = None
    ) -> list[JobSummary]:
        with self._reading():
            rows = summaries.coverage(self._conn, datasource, start, end)
        return [self._check_summary(row) for row in rows]

    def phase_counts(self) -> dict[str, int]:
        """The stored count of jobs in each phase (kept by triggers beside the rows)."""
        with self._reading():
            return summaries.phase_counts(self._conn)

    def counted_phases(self) -> dict[str, int]:
        """The jobs in each phase, counted row by row (what the stored counts must say)."""
        with self._reading():
            return summaries.counted_phases(self._conn)

    def checkable_summaries(self) -> Iterator[tuple[str, JobSummary]]:
        """Every summary whose job's events are in this file, with its stream id."""
        with self._reading():
            for stream_id, row in summaries.checkable_rows(self._conn):
                yield stream_id, self._check_summary(row)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """What a damaged or crafted file makes SQLite (or the conversion of a column to
        its type) raise, as `UnreadableLogError` naming the file."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise UnreadableLogError(
                f"{self._file()} cannot be read as an event log: {exc}"
            ) from exc
        except (ValueError, TypeError, OverflowError) as exc:  # a column of the wrong type
            raise UnreadableLogError(
                f"{self._file()}: the job summaries hold a value of the wrong type ({exc}); "
                "`druid-orch audit rebuild-summaries` rebuilds them from the events"
            ) from exc

    def _check_summary(self, row: JobSummary) -> JobSummary:
        """`row`, if its columns (which `summary_of` takes as stored) have their types."""
        for name, kinds in _SUMMARY_TYPES:
            value = getattr(row, name)
            if not isinstance(value, kinds):
                raise UnreadableLogError(
                    f"{self._file()}: the summary row of job {row.job_id!r:.200} holds "
                    f"{kind_of(value)} in its {name} column; `druid-orch audit "
                    "rebuild-summaries` rebuilds the summaries from the events"
                )
        return row

    def _file(self) -> str:
        """The file this reads, for messages (SQLite knows it without reading a page)."""
        try:
            return str(self._conn.execute("PRAGMA database_list").fetchone()[2]) or (
                "the event log"
            )
        except sqlite3.Error:
            return "the event log"


def _shown(stream_id: object) -> str:
    """A stream id for a message: as it is if it is text, else what it is."""
    return f"{stream_id:.200}" if isinstance(stream_id, str) else kind_of(stream_id)
