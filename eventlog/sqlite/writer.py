"""The write connection: everything here runs in the writer (`eventlog.sqlite.writer_process`).

`SQLiteEventLog` (in `store.py`) streams appends to the writer, which hands whatever has arrived
to `WriteConnection.commit` as one batch. Inside one `BEGIN IMMEDIATE ... COMMIT`, it looks
up the streams it has not seen, has `eventlog.writes.plan` check versions, number and
hash the events (a pure plan), and writes the plan.

The in-memory view (head seq and hash, stream versions) is only ever changed after a
successful COMMIT, so a failed batch leaves it exactly as the file is. At the start of every
batch the head row is compared with that view: if another connection has written to the
file, the view is reloaded before anything is numbered, so two writers can never fork the
hash chain.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping, Sequence

from eventlog.chain import GENESIS_HASH, decode_head, encode_head
from eventlog.errors import (
    CorruptEventError,
    EventLogError,
    EventLogUnavailableError,
    SchemaVersionError,
)
from eventlog.sqlite.header import check_file, hot_wal, read_only_uri, wal_note
from eventlog.sqlite.migrations import DEFAULT_PAGE_SIZE, identify, prepare
from eventlog.sqlite.projection.schema import upsert as upsert_summaries
from eventlog.sqlite.statements import (
    INSERT_EVENTS,
    LOOKUP_STREAMS,
    REOPEN_STREAM,
    UPSERT_HEAD,
    UPSERT_SNAPSHOTS,
    UPSERT_STREAMS,
    insert_rows,
)
from eventlog.writes.items import Archived, Conflict, Item, Outcome, failed
from eventlog.writes.plan import (
    MAX_CACHED_STREAMS,
    BatchPlan,
    StreamChange,
    cache_looked_up,
    plan_batch,
    streams_to_look_up,
)

_LOOKUP_CHUNK = 500


class WriteConnection:
    """The only connection that writes, and the writer's view of the log's tip."""

    def __init__(
        self,
        path: str,
        synchronous: str,
        max_size_bytes: int | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.max_size_bytes = max_size_bytes
        self.page_size = page_size
        self.conn: sqlite3.Connection | None = None
        self.head_seq = 0
        self.head_hash = GENESIS_HASH
        self.versions: dict[str, int] = {}
        # The phase of each job summary this connection's commits wrote, so that a batch
        # reads only its new jobs' old phases to keep `job_phase_counts`: kept, dropped and
        # bounded as `versions` is (another connection's appends or a maintenance action,
        # which reloads the head, may have changed the rows).
        self.phases: dict[str, str] = {}
        self._reopen = False

    # --- lifecycle -------------------------------------------------------

    def open(self) -> None:
        """Check the file, create or upgrade its schema, and load the head.

        Raises:
            CorruptEventError: not an SQLite file, another application's, damaged or truncated.
            SchemaVersionError: written by a newer druid-orchestrator.
            EventLogUnavailableError: the file cannot be opened or upgraded right now.
        """
        check_file(self.path)
        self._check_before_writing()
        try:
            self._connect()
            self.load_head()
        except sqlite3.OperationalError as exc:
            self.close()
            raise EventLogUnavailableError(f"cannot open event log {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            self.close()
            raise CorruptEventError(f"{self.path} is damaged and cannot be read: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def _check_before_writing(self) -> None:
        """Refuse a file that is not a sound log on a read-only connection, first.

        The write connection cannot be closed without writing: the last connection to a WAL
        database checkpoints the `-wal` file into the main file when it closes. Were a file
        refused only there, a `-wal` that does not belong to the log (left by another
        database, or damaged) would be copied over the log's own pages on the way out. A
        read-only connection never checkpoints, so a file refused here is left as it was.
        A missing or empty file has nothing to lose and becomes a new log.

        Without a -wal file that holds pages there is nothing to copy, and the check is left
        to the write connection: a read-only connection would create the -wal and -shm files
        itself, with the database's mode, and a -shm created read-only for a read-only file
        stays read-only for every connection of this process, even once the file is made
        writable again.
        """
        try:
            if os.path.getsize(self.path) == 0 or not hot_wal(self.path):
                return
        except OSError:
            return  # missing, or not reachable: the write connection says why
        try:
            conn = sqlite3.connect(read_only_uri(self.path), uri=True, check_same_thread=False)
        except sqlite3.Error:
            return  # cannot be opened at all: the write connection says why
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            if identify(conn, self.path):
                read_head(conn, self.path)
        except sqlite3.OperationalError:
            pass  # locked, or a read-only directory: the write connection decides
        except sqlite3.DatabaseError as exc:
            raise CorruptEventError(
                f"{self.path} is damaged and cannot be read: {exc}{wal_note(self.path)}"
            ) from exc
        except CorruptEventError as exc:
            raise CorruptEventError(exc.detail + wal_note(self.path), seq=exc.seq) from exc
        except SchemaVersionError as exc:
            raise SchemaVersionError(f"{exc}{wal_note(self.path)}") from exc
        finally:
            conn.close()

    def _connect(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise EventLogUnavailableError(f"cannot open event log {self.path}: {exc}") from exc
        self.conn = conn
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            prepare(conn, self.path, self.page_size)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise EventLogUnavailableError(
                    f"{self.path}: cannot switch to WAL mode (journal_mode is {mode})"
                )
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            if self.max_size_bytes is not None:
                page_size = conn.execute("PRAGMA page_size").fetchone()[0]
                pages = max(1, self.max_size_bytes // page_size)
                conn.execute(f"PRAGMA max_page_count = {pages}")
        except sqlite3.DatabaseError as exc:
            raise CorruptEventError(f"{self.path} is not a readable event log: {exc}") from exc

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def load_head(self) -> None:
        """Read the head row and check it against the newest event and checkpoint.

        Raises:
            CorruptEventError: the head and the rows disagree (truncated or tampered tail).
        """
        conn = self._c()
        self.versions.clear()
        self.phases.clear()
        self.head_seq, self.head_hash = read_head(conn, self.path)

    def _c(self) -> sqlite3.Connection:
        if self.conn is None:
            raise EventLogUnavailableError(f"the write connection to {self.path} is closed")
        return self.conn

    # --- batches ---------------------------------------------------------

    def commit(self, items: Sequence[Item], now: float) -> list[Outcome]:
        """Write one batch in one transaction; return each item's outcome, in order.

        Outcomes are already in the form the writer sends (`eventlog.writes.items`). An append
        whose expected version is stale gets a `Conflict` and the rest of the batch still
        commits. If the transaction fails, every item gets the same `Failed` (the
        `EventLogUnavailableError` or `CorruptEventError` to raise) and nothing was written.
        """
        try:
            if self._reopen:
                self.close()
                self._connect()
                self._reopen = False
            conn = self._c()
            conn.execute("BEGIN IMMEDIATE")
        except (sqlite3.Error, EventLogError) as exc:
            error = exc if isinstance(exc, EventLogError) else self._failure(exc, len(items))
            return [failed(error)] * len(items)
        plan: BatchPlan | None = None
        try:
            self._follow_head(conn)
            archived = self._look_up(conn, items)
            plan = plan_batch(items, self.versions, archived, self.head_seq, self.head_hash, now)
            if len(self.phases) > MAX_CACHED_STREAMS:
                self.phases.clear()
            phases = _write(conn, plan, now, self.phases)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.rollback()
            if not isinstance(exc, sqlite3.Error | EventLogError):
                raise
            refusal = failed(
                exc if isinstance(exc, EventLogError) else self._failure(exc, len(items))
            )
            if plan is None:
                return [refusal] * len(items)
            outcomes = plan.outcomes
            for index, outcome in enumerate(outcomes):
                if type(outcome) not in (Conflict, Archived) or index in plan.provisional:
                    outcomes[index] = refusal
            return outcomes
        self.head_seq, self.head_hash = plan.head_seq, plan.head_hash
        self.versions.update(plan.versions)
        self.phases.update(phases)
        return plan.outcomes

    def _follow_head(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
        if row is None:
            if self.head_seq:
                raise CorruptEventError(
                    f"the head record of {self.path} disappeared while the log was open",
                    seq=self.head_seq,
                )
            return
        head_seq, head_hash = decode_head(row[0])
        if (head_seq, head_hash) != (self.head_seq, self.head_hash):
            # Another connection appended: forget cached versions and chain from its head.
            self.versions.clear()
            self.phases.clear()
            self.head_seq, self.head_hash = head_seq, head_hash

    def _look_up(self, conn: sqlite3.Connection, items: Sequence[Item]) -> dict[str, Archived]:
        """Load the versions of the batch's streams the cache lacks, a few queries in all.

        A burst of new jobs would otherwise cost one query per stream. Returns the archived
        streams among them (`cache_looked_up`).
        """
        missing = streams_to_look_up(items, self.versions)
        archived: dict[str, Archived] = {}
        for start in range(0, len(missing), _LOOKUP_CHUNK):
            chunk = missing[start : start + _LOOKUP_CHUNK]
            found = {
                sid: (version, archived_at)
                for sid, version, archived_at in conn.execute(
                    LOOKUP_STREAMS.format(", ".join("?" * len(chunk))), chunk
                )
            }
            archived.update(cache_looked_up(self.versions, chunk, found))
        return archived

    def _failure(self, exc: sqlite3.Error, count: int) -> EventLogError:
        text = str(exc)
        what = f"none of the {count} queued writes reached {self.path}"
        if isinstance(exc, sqlite3.DatabaseError) and "malformed" in text:
            return CorruptEventError(f"{self.path} is damaged ({text}); {what}")
        if "readonly" in text or "read-only" in text:
            # SQLite fell back to a read-only handle; reopen before the next batch so a
            # file made writable again is written to.
            self._reopen = True
            return EventLogUnavailableError(
                f"the event log {self.path} is read-only ({text}); {what}. Make it, its "
                "-wal and -shm files and its directory writable, then retry"
            )
        if "full" in text:
            return EventLogUnavailableError(
                f"the event log {self.path} is full ({text}); {what}. Free disk space, then retry"
            )
        if "locked" in text or "busy" in text:
            return EventLogUnavailableError(
                f"the event log {self.path} is locked by another connection ({text}); {what}"
            )
        return EventLogUnavailableError(f"could not commit to {self.path} ({text}); {what}")


def _write(
    conn: sqlite3.Connection, plan: BatchPlan, now: float, phases: Mapping[str, str]
) -> dict[str, str]:
    """Write a batch's plan inside the transaction the caller holds open; returns the
    phases of the job summaries it wrote (`phases` is what the connection knows already)."""
    if plan.events:
        insert_rows(conn, INSERT_EVENTS, plan.events)
        conn.execute(UPSERT_HEAD, (encode_head(plan.head_seq, plan.head_hash),))
    if plan.streams:
        upserts = [
            (sid, plan.versions[sid], int(change is StreamChange.CLOSED), now)
            for sid, change in plan.streams.items()
            if change is not StreamChange.REOPENED
        ]
        if upserts:
            insert_rows(conn, UPSERT_STREAMS, upserts)
        reopened = [
            (now, sid) for sid, change in plan.streams.items() if change is StreamChange.REOPENED
        ]
        if reopened:
            conn.executemany(REOPEN_STREAM, reopened)
    if plan.snapshots:
        insert_rows(conn, UPSERT_SNAPSHOTS, plan.snapshots)
    if plan.summaries:
        return upsert_summaries(conn, list(plan.summaries.values()), phases)
    return {}


def read_head(conn: sqlite3.Connection, path: str) -> tuple[int, bytes]:
    """The head row's `(seq, hash)`, checked against the newest event and checkpoint.

    Raises:
        CorruptEventError: the head and the rows disagree (truncated or tampered tail).
    """
    row = conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
    last = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    cp = conn.execute(
        "SELECT after_seq, hash FROM checkpoints ORDER BY after_seq DESC LIMIT 1"
    ).fetchone()
    tips = [(int(r[0]), bytes(r[1])) for r in (last, cp) if r is not None]
    tip_seq, tip_hash = max(tips) if tips else (0, GENESIS_HASH)
    if row is None:
        if tip_seq:
            raise CorruptEventError(
                f"{path} has events up to seq {tip_seq} but no head record; "
                "the head was deleted, so truncation cannot be ruled out",
                seq=tip_seq,
            )
        return 0, GENESIS_HASH
    try:
        head_seq, head_hash = decode_head(row[0])
    except ValueError as exc:
        raise CorruptEventError(f"{path}: {exc}") from exc
    if head_seq > tip_seq:
        raise CorruptEventError(
            f"{path} is truncated (its head record names seq {head_seq}, the newest "
            f"event is seq {tip_seq}): events are missing",
            seq=tip_seq + 1,
        )
    if head_seq < tip_seq:
        raise CorruptEventError(
            f"{path} has events up to seq {tip_seq} beyond its head record "
            f"(seq {head_seq}); they were written outside the event log",
            seq=head_seq + 1,
        )
    if head_hash != tip_hash:
        raise CorruptEventError(
            f"{path}: the newest event's hash does not match the head record; "
            "the event was altered",
            seq=head_seq,
        )
    return head_seq, head_hash
