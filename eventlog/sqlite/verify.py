"""Chain verification: does the log prove its own history?

`verify(path)` walks every event in seq order on a connection of its own (one read
transaction, so the writer keeps going), recomputes each hash from its predecessor, steps
over retention's gaps through their checkpoints, and checks the end of the chain against
the head record. It stops at the first broken link and says what it found there:

* `altered`   - an event's bytes no longer match its hash (or its predecessor was edited
                and re-hashed, so it no longer chains from it);
* `missing`   - seqs are absent with no checkpoint accounting for them, or an event was
                recorded at a later seq (rows were deleted and the rest renumbered);
* `reordered` - an event was recorded at another seq, or a stream's versions go backwards;
* `truncated` - the head record names events past the last one present;
* `head`      - the head record is missing or disagrees with the newest event;
* `checkpoint`/`archive` - a gap's checkpoint does not fit, or its archive does not match;
* `unreadable`/`file` - SQLite cannot read the rows or the file at all, or its integrity
                check fails (a damaged index or table page the walk does not read).

The report carries the head's seq and hash: anchoring those outside the file (a ticket, a
second system) is what makes rewriting the whole chain detectable too.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import msgspec

from eventlog.chain import chain_hash, decode_head
from eventlog.chain_report import BreakKind, BrokenLink, BrokenLinkError, ChainReport, ChainWalk
from eventlog.errors import EventLogError
from eventlog.sqlite.header import check_file, connect_read_only, kind_of
from eventlog.sqlite.migrations import APPLICATION_ID, SCHEMA_VERSION, identify
from eventlog.upcasting import UpcastError, decode_stored

_WINDOW = 16  # how far around a mismatch to look for where an event really belongs
# What each column read must hold: a crafted file may store anything anywhere, and a value
# of the wrong type must end the walk with a broken link, not a traceback or `bytes(n)`.
_Types = tuple[tuple[str, type | tuple[type, ...]], ...]
_EVENT_TYPES: _Types = (
    ("seq", int),
    ("stream_id", str),
    ("version", int),
    ("type", str),
    ("recorded_at", (float, int)),
    ("body", (bytes, str)),
    ("hash", bytes),
)
_CHECKPOINT_TYPES: _Types = (
    ("first_seq", int),
    ("after_seq", int),
    ("hash", bytes),
    ("prev_hash", (bytes, type(None))),
    ("archived_to", str),
    ("archive_sha256", (str, type(None))),
)


async def verify(path: str | Path, *, archives: bool = False) -> ChainReport:
    """Verify the log at `path` on a worker thread; `archives=True` also checks archives."""
    return await asyncio.to_thread(verify_file, str(path), archives=archives)


class _Walk(ChainWalk):
    """The state of one verification walk."""

    def __init__(self, path: str, conn: sqlite3.Connection, archives: bool) -> None:
        super().__init__(archives)
        self.path, self.conn = path, conn
        self.stream_versions: dict[str, int] = {}

    def run(self) -> None:
        for row in self.conn.execute(
            "SELECT coalesce(first_seq, after_seq - removed + 1), after_seq, hash, prev_hash, "
            "archived_to, archive_sha256 FROM checkpoints ORDER BY after_seq"
        ):
            first, after, hash_, prev, to, sha = _checked(row, _CHECKPOINT_TYPES, "checkpoint")
            self.gaps[first] = (after, hash_, prev, to, sha)
        cursor = self.conn.execute(
            "SELECT seq, stream_id, version, type, recorded_at, body, hash FROM events ORDER BY seq"
        )
        while True:
            try:
                row = cursor.fetchone()
            except sqlite3.DatabaseError as exc:
                raise BrokenLinkError(
                    self.next_seq, "unreadable", f"cannot read past seq {self.next_seq - 1}: {exc}"
                ) from exc
            if row is None:
                break
            self.step_over_gaps(_checked(row, _EVENT_TYPES, "event")[0])
            self._check_event(row)
        self.step_over_gaps(None)
        self._check_head()
        self._check_pages()

    def _check_pages(self) -> None:
        """SQLite's own check of every page and index, which the chain walk does not read.

        The walk reads the events table in seq order, never its (stream_id, version) index
        nor the other tables; a damaged index makes a stream read miss events, and a
        damaged streams page makes the writer refuse the file.
        """
        try:
            rows = self.conn.execute("PRAGMA integrity_check(5)").fetchall()
        except sqlite3.DatabaseError as exc:
            raise BrokenLinkError(None, "unreadable", f"{self.path} is damaged: {exc}") from exc
        problems = [str(r[0]) for r in rows if r[0] != "ok"]
        if problems:
            raise BrokenLinkError(
                None,
                "unreadable",
                f"{self.path} is damaged outside the event rows (SQLite's integrity check: "
                + "; ".join(" ".join(p.split()) for p in problems)
                + ")",
            )

    def _check_event(self, row: tuple[int, str, int, str, float, bytes | str, bytes]) -> None:
        seq, stream_id, version, type_, recorded_at, raw, stored = row
        # An edit through SQL may have stored TEXT where we wrote a BLOB (`_checked` has
        # refused anything else).
        body = raw.encode() if isinstance(raw, str) else raw
        if seq < self.next_seq:
            raise BrokenLinkError(
                seq, "checkpoint", f"seq {seq} is present but covered by a checkpoint"
            )
        if chain_hash(self.prev, seq, stream_id, version, type_, recorded_at, body) != stored:
            raise BrokenLinkError(
                seq, *self._diagnose(seq, stream_id, version, type_, recorded_at, body, stored)
            )
        last = self.stream_versions.get(stream_id)
        if version != (last or 0) + 1 and last is not None:
            raise BrokenLinkError(
                seq,
                "reordered" if version <= last else "missing",
                f"stream {stream_id!r} goes from version {last} to {version} at seq {seq}",
            )
        try:
            decode_stored(body)
        except (msgspec.DecodeError, msgspec.ValidationError, UpcastError) as exc:
            raise BrokenLinkError(
                seq, "unreadable", f"the event at seq {seq} cannot be decoded: {exc}"
            ) from exc
        self.stream_versions[stream_id] = version
        self.prev, self.next_seq = stored, seq + 1
        self.events += 1

    def _diagnose(
        self,
        seq: int,
        stream_id: str,
        version: int,
        type_: str,
        at: float,
        body: bytes,
        stored: bytes,
    ) -> tuple[BreakKind, str]:
        """Say why the event at `seq` does not chain from its predecessor."""
        nearby = self.conn.execute(
            "SELECT hash FROM events WHERE seq BETWEEN ? AND ? AND typeof(hash) = 'blob'",
            (seq - _WINDOW, seq + _WINDOW),
        ).fetchall()
        prevs = {self.prev, *(bytes(h) for (h,) in nearby)}
        for claimed in range(max(1, seq - _WINDOW), seq + _WINDOW + 1):
            if claimed == seq:
                continue
            if any(
                chain_hash(p, claimed, stream_id, version, type_, at, body) == stored for p in prevs
            ):
                return (
                    "reordered",
                    f"the event at seq {seq} was recorded as seq {claimed}: events were reordered",
                )
        return "altered", (
            f"the event at seq {seq} does not match its hash: it was altered, or the event "
            f"before it (seq {seq - 1}) was altered and re-hashed"
        )

    def _check_head(self) -> None:
        tip = self.next_seq - 1
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
        if row is None:
            if tip:
                raise BrokenLinkError(
                    tip, "head", f"events reach seq {tip}, but the head record is missing"
                )
            return
        try:
            head_seq, head_hash = decode_head(row[0])
        except ValueError as exc:
            raise BrokenLinkError(None, "head", str(exc)) from exc
        if head_seq > tip:
            raise BrokenLinkError(
                tip + 1,
                "truncated",
                f"the log is truncated: the head record names seq {head_seq}, but events end "
                f"at seq {tip}",
            )
        if head_seq < tip:
            raise BrokenLinkError(
                head_seq + 1,
                "head",
                f"events reach seq {tip}, past the head record's seq {head_seq}",
            )
        if head_hash != self.prev:
            raise BrokenLinkError(
                tip, "head", f"the newest event (seq {tip}) does not match the head record's hash"
            )


def _checked(row: Any, types: _Types, what: str) -> Any:
    """`row`, if each value has its column's type; else the broken link that names them.

    `bool` is an `int` to `isinstance` but never comes out of SQLite, so `type(x) is int`
    is not needed; the seq of an event row is checked first so the message can name it.
    """
    wrong = [
        f"{name} is {kind_of(value)}"
        for (name, kinds), value in zip(types, row, strict=True)
        if not isinstance(value, kinds)
    ]
    if not wrong:
        return row
    seq = row[0] if what == "event" and isinstance(row[0], int) else None
    where = f"the {what} row at seq {seq}" if seq is not None else f"a {what} row"
    raise BrokenLinkError(
        seq,
        "unreadable",
        f"{where} has a column of the wrong type ({', '.join(wrong)}): the log was edited "
        "outside the orchestrator",
    )


def verify_file(path: str, *, archives: bool = False) -> ChainReport:
    """Synchronous `verify`: walk the chain of the log file at `path`."""
    try:
        check_file(path)
    except EventLogError as exc:
        return ChainReport(path=path, broken=BrokenLink(None, "file", str(exc)))
    if not Path(path).exists():
        return ChainReport(path=path, broken=BrokenLink(None, "file", f"{path} does not exist"))
    # Read-only (`mode=ro`), not just `query_only`: a connection that may write checkpoints
    # the -wal file into the main file when it closes, and verifying must change nothing.
    try:
        conn = connect_read_only(path, isolation_level=None)
    except sqlite3.DatabaseError as exc:
        return ChainReport(path=path, broken=BrokenLink(None, "file", f"cannot open {path}: {exc}"))
    walk = _Walk(path, conn, archives)
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        user_version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise BrokenLinkError(
                None, "file", f"{path} is not an event log (application_id={app_id})"
            )
        if user_version > SCHEMA_VERSION:
            raise BrokenLinkError(
                None,
                "file",
                f"{path} has schema version {user_version}, newer than {SCHEMA_VERSION}",
            )
        try:
            identify(conn, path)  # and the rest of what the writer checks (its tables)
        except EventLogError as exc:
            raise BrokenLinkError(None, "file", str(exc)) from exc
        conn.execute("BEGIN")  # one snapshot for the whole walk
        walk.run()
        broken = None
    except BrokenLinkError as exc:
        broken = exc.link
    except sqlite3.DatabaseError as exc:
        broken = BrokenLink(walk.next_seq, "unreadable", f"cannot read {path}: {exc}")
    finally:
        conn.close()
    return walk.report(path, broken)
