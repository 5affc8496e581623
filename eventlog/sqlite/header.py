"""A look at the database file's header before SQLite opens it.

SQLite's own messages for a damaged file ("file is not a database", "database disk image is
malformed") do not say which file or what is wrong with it, and some damage (a file cut
short by a failed copy) only shows once a query reaches the missing pages. Reading the
100-byte header first lets us refuse such files at once with a sentence that names the
problem. Nothing here writes to the file: repairing a log is a person's decision.

A file may also come from elsewhere (an audit of a copy, a file someone sent): readers of
such files connect through `connect_read_only`, whose limits keep what a crafted file can
make SQLite allocate bounded, and the -wal check reads the file a frame at a time.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import time
from pathlib import Path
from typing import Any, BinaryIO

from eventlog.errors import CorruptEventError, EventLogUnavailableError

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100
_WAL_BYTE_ORDER = {0x377F0682: "<", 0x377F0683: ">"}  # WAL magic -> checksum byte order
_WAL_HEADER = 32
_FRAME_HEADER = 24
_MASK = 0xFFFFFFFF
# The largest value a log holds is an event or snapshot carrying a spec, and the API takes
# specs of at most 64 MiB (`limits.max_body_bytes`): twice that is room enough, and a
# crafted value larger than it is refused before SQLite allocates it.
MAX_VALUE_BYTES = 128 * 1024**2
_LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: MAX_VALUE_BYTES,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 1024**2,  # our queries are short; a schema is too
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 256,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
}


def check_file(path: str | Path) -> None:
    """Refuse a file that is not SQLite or is shorter than its header says, or whose -wal
    file is damaged where SQLite would silently drop commits (`check_wal`).

    A missing or empty file is fine: it becomes a new log.

    Raises:
        CorruptEventError: the file is not an SQLite database, or it is truncated, or its
            -wal file is damaged before committed frames.
        EventLogUnavailableError: the file cannot be read (permissions).
    """
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        return
    if os.path.isdir(path):
        raise CorruptEventError(f"{path} is a directory, not an event log file")
    if size == 0:
        return
    try:
        with open(path, "rb") as f:
            header = f.read(HEADER_SIZE)
    except OSError as exc:
        raise EventLogUnavailableError(f"cannot read {path}: {exc.strerror}") from exc
    if not header.startswith(SQLITE_MAGIC):
        raise CorruptEventError(
            f"{path} is not an SQLite database (it starts with {header[:16]!r}); "
            "refusing to open it as an event log"
        )
    if len(header) < HEADER_SIZE:
        raise CorruptEventError(
            f"{path} is truncated: it holds {size} bytes, less than the {HEADER_SIZE}-byte "
            "SQLite header"
        )
    page_size = int.from_bytes(header[16:18], "big")
    if page_size == 1:
        page_size = 65536
    if page_size < 512 or page_size & (page_size - 1):
        raise CorruptEventError(f"{path} has a damaged header: page size {page_size} is invalid")
    if hot_wal(path):
        check_wal(path)
        # Pages still in the WAL may legitimately lie beyond the end of the main file.
        return
    pages = int.from_bytes(header[28:32], "big")
    change_counter = header[24:28]
    valid_for = header[92:96]
    if size % page_size:
        raise CorruptEventError(
            f"{path} is truncated: its {size} bytes are not a whole number of "
            f"{page_size}-byte pages"
        )
    if change_counter == valid_for and pages * page_size > size:
        raise CorruptEventError(
            f"{path} is truncated: its header describes {pages} pages of {page_size} bytes "
            f"({pages * page_size} bytes), but the file holds only {size} bytes"
        )


def hot_wal(path: str | Path) -> bool:
    """Whether a non-empty -wal file lies beside the log (pages not yet in the main file)."""
    try:
        return os.path.getsize(f"{path}-wal") > 0
    except FileNotFoundError:
        return False


def wal_note(path: str | Path) -> str:
    """What to add to a refusal when a `-wal` file beside the log was read as part of it."""
    if not hot_wal(path):
        return ""
    return (
        f" (read together with {path}-wal, which holds recent commits: a -wal file left by "
        "another database or damaged looks like this; nothing was written to either file)"
    )


def read_only_uri(path: str | Path) -> str:
    """The URI that opens the log at `path` read-only (`mode=ro`), immutable if it must be.

    A reader of a WAL file needs its -shm file and creates it when it is missing. In a
    directory the reader may not write to, with neither -wal nor -shm beside the file, that
    fails ("attempt to write a readonly database") although every committed event is in the
    main file; and no writer can change the file there either, since it would have to
    create the -wal first. Only then is the file opened as immutable.
    """
    resolved = Path(path).resolve()
    uri = f"{resolved.as_uri()}?mode=ro"
    if not os.access(resolved.parent, os.W_OK) and not any(
        os.path.lexists(f"{resolved}{suffix}") for suffix in ("-wal", "-shm")
    ):
        uri += "&immutable=1"
    return uri


def connect_read_only(path: str | Path, **kwargs: Any) -> sqlite3.Connection:
    """A read-only connection (`read_only_uri`) to a log that may come from elsewhere.

    A crafted file can make SQLite compute values its pages do not hold (a generated column
    of `zeroblob(900000000)`), so values, statements and expressions get limits far below
    SQLite's defaults yet far above anything the orchestrator writes, and the schema's
    functions run only if SQLite deems them harmless (`trusted_schema`).

    Raises:
        sqlite3.DatabaseError: SQLite cannot open the file.
    """
    conn: sqlite3.Connection = sqlite3.connect(read_only_uri(path), uri=True, **kwargs)
    limit_untrusted(conn)
    return conn


def limit_untrusted(conn: sqlite3.Connection) -> None:
    """Bound what one value or statement on `conn` may cost (see `connect_read_only`)."""
    for category, value in _LIMITS.items():
        conn.setlimit(category, value)
    conn.execute("PRAGMA trusted_schema = OFF")


def kind_of(value: object) -> str:
    """What a column's value is, for messages: never the value, which may be huge."""
    names = {str: "text", bytes: "a blob", int: "an integer", float: "a real"}
    return names.get(type(value), "NULL" if value is None else type(value).__name__)


def check_wal(path: str | Path) -> None:
    """Refuse a -wal file whose damage would make SQLite drop commits that were made.

    SQLite reads a -wal file up to the first frame whose checksum fails and ignores the
    rest, silently: that is how it discards a transaction torn by a crash. With
    `synchronous=FULL` only the last transaction can be torn, so its commit is the only one
    that may lie beyond a failing frame. Two or more commits of the file's current
    generation (its salts) beyond it were durable once, and opening the log would lose them
    for good at the next checkpoint; a bit flip in the middle of the file looks like that.
    See https://www.sqlite.org/fileformat2.html#walformat for the layout.

    The file is read a frame at a time (one page in memory), so a -wal file of any size,
    sparse or crafted, costs a bounded amount of memory.

    A writer may be appending while this reads (an audit next to a running daemon), and a
    read can catch a frame half-written: damage is reported only if it is found at the same
    frame on three reads.

    Raises:
        CorruptEventError: committed frames follow a damaged one.
    """
    wal = f"{path}-wal"
    found = None
    for attempt in range(3):
        if attempt:
            time.sleep(0.05)
        try:
            with open(wal, "rb") as f:
                damage = _wal_damage(f)
        except OSError:
            return  # none (a clean shutdown removes it), or not readable: SQLite decides
        if damage is None or (found is not None and damage[:2] != found[:2]):
            return
        found = damage
    assert found is not None
    cut, frame, commits = found
    where = "in its header" if frame == 0 else f"at frame {frame} (byte {cut})"
    raise CorruptEventError(
        f"{wal} is damaged {where}: SQLite would ignore it and everything after it, "
        f"{commits} committed transactions of {path} among them; refusing to open the log, "
        "so that they are not lost at the next checkpoint. Keep a copy of both files; "
        f"to give those transactions up, cut {wal} to {cut} bytes"
    )


def _wal_damage(f: BinaryIO) -> tuple[int, int, int] | None:
    """(where to cut, the damaged frame from 1 or 0 for the header, commits beyond it) of the
    -wal file `f` with two or more commits beyond its first damaged frame; else None."""
    header = f.read(_WAL_HEADER)
    if len(header) < _WAL_HEADER:
        return None
    magic, _, page_size, _, salt1, salt2, *expected = struct.unpack(">8I", header)
    order = _WAL_BYTE_ORDER.get(magic)
    if order is None or not 512 <= page_size <= 65536 or page_size & (page_size - 1):
        return None  # not a WAL header at all: SQLite ignores the file, and so can we
    frame_size = _FRAME_HEADER + page_size
    sums = _wal_checksum(header[:24], 0, 0, order)
    if sums != tuple(expected):
        first = f.read(_FRAME_HEADER)
        if len(first) == _FRAME_HEADER:  # the header's salts may be what was damaged
            salt1, salt2 = struct.unpack(">2I", first[8:16])
        commits = _commits_from(f, 0, frame_size, (salt1, salt2))
        return (0, 0, commits) if commits >= 2 else None
    index = 0
    while True:
        frame = f.read(frame_size)
        if len(frame) < frame_size:
            return None  # every whole frame checks out
        _, _, s1, s2, c1, c2 = struct.unpack(">6I", frame[:_FRAME_HEADER])
        if (s1, s2) != (salt1, salt2):
            return None  # the end of this generation: later frames are older ones, reused
        sums = _wal_checksum(frame[:8], *sums, order)
        sums = _wal_checksum(frame[_FRAME_HEADER:], *sums, order)
        if sums != (c1, c2):
            break
        index += 1
    commits = _commits_from(f, index, frame_size, (salt1, salt2))
    return (_WAL_HEADER + index * frame_size, index + 1, commits) if commits >= 2 else None


def _commits_from(f: BinaryIO, index: int, frame_size: int, salts: tuple[int, int]) -> int:
    """The commit frames of the generation `salts` among the whole frames from `index` (from
    0) on, reading only each frame's header."""
    commits = 0
    at = _WAL_HEADER + index * frame_size
    size = os.fstat(f.fileno()).st_size
    while at + frame_size <= size:
        f.seek(at)
        head = f.read(16)
        if len(head) < 16:
            break  # cut short while we read
        _, db_size, s1, s2 = struct.unpack(">4I", head)
        commits += db_size != 0 and (s1, s2) == salts
        at += frame_size
    return commits


def _wal_checksum(buf: bytes, s0: int, s1: int, order: str) -> tuple[int, int]:
    """SQLite's WAL checksum of `buf` (a multiple of 8 bytes), continuing from (s0, s1).

    Every open of a log with a -wal file checks it, so this is unrolled: the sums are taken
    modulo 2**32 once per eight pairs of words rather than at each (they stay below 2**56
    in between, small enough for Python's fast integers).
    """
    bulk = len(buf) - len(buf) % 64
    for a, b, c, d, e, f, g, h, i, j, k, m, n, o, p, q in struct.iter_unpack(
        f"{order}16I", memoryview(buf)[:bulk]
    ):
        s0 += a + s1
        s1 += b + s0
        s0 += c + s1
        s1 += d + s0
        s0 += e + s1
        s1 += f + s0
        s0 += g + s1
        s1 += h + s0
        s0 += i + s1
        s1 += j + s0
        s0 += k + s1
        s1 += m + s0
        s0 += n + s1
        s1 += o + s0
        s0 = (s0 + p + s1) & _MASK
        s1 = (s1 + q + s0) & _MASK
    for x0, x1 in struct.iter_unpack(f"{order}2I", memoryview(buf)[bulk:]):
        s0 = (s0 + x0 + s1) & _MASK
        s1 = (s1 + x1 + s0) & _MASK
    return s0, s1
