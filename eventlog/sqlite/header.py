"""A look at the database file's header before SQLite opens it.

SQLite's own messages for a damaged file ("file is not a database", "database disk image is
malformed") do not say which file or what is wrong with it, and some damage (a file cut
short by a failed copy) only shows once a query reaches the missing pages. Reading the
100-byte header first lets us refuse such files at once with a sentence that names the
problem. Nothing here writes to the file: repairing a log is a person's decision.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

from eventlog.errors import CorruptEventError, EventLogUnavailableError

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100
_WAL_BYTE_ORDER = {0x377F0682: "<", 0x377F0683: ">"}  # WAL magic -> checksum byte order
_WAL_HEADER = 32
_FRAME_HEADER = 24


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


def check_wal(path: str | Path) -> None:
    """Refuse a -wal file whose damage would make SQLite drop commits that were made.

    SQLite reads a -wal file up to the first frame whose checksum fails and ignores the
    rest, silently: that is how it discards a transaction torn by a crash. With
    `synchronous=FULL` only the last transaction can be torn, so its commit is the only one
    that may lie beyond a failing frame. Two or more commits of the file's current
    generation (its salts) beyond it were durable once, and opening the log would lose them
    for good at the next checkpoint; a bit flip in the middle of the file looks like that.
    See https://www.sqlite.org/fileformat2.html#walformat for the layout.

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
                damage = _wal_damage(f.read())
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


def _wal_damage(data: bytes) -> tuple[int, int, int] | None:
    """(where to cut, the damaged frame from 1 or 0 for the header, commits beyond it) of a
    -wal file with two or more commits beyond its first damaged frame; else None."""
    if len(data) < _WAL_HEADER:
        return None
    magic, _, page_size, _, salt1, salt2, *expected = struct.unpack(">8I", data[:_WAL_HEADER])
    order = _WAL_BYTE_ORDER.get(magic)
    if order is None or not 512 <= page_size <= 65536:
        return None  # not a WAL header at all: SQLite ignores the file, and so can we
    sums = _wal_checksum(data[:24], 0, 0, order)
    frame_size = _FRAME_HEADER + page_size
    frames = (len(data) - _WAL_HEADER) // frame_size
    header_bad = sums != tuple(expected)
    first_bad = 0 if header_bad else None
    for index in range(frames if first_bad is None else 0):
        at = _WAL_HEADER + index * frame_size
        _, _, s1, s2, c1, c2 = struct.unpack(">6I", data[at : at + _FRAME_HEADER])
        if (s1, s2) != (salt1, salt2):
            return None  # the end of this generation: later frames are older ones, reused
        sums = _wal_checksum(data[at : at + 8], *sums, order)
        sums = _wal_checksum(data[at + _FRAME_HEADER : at + frame_size], *sums, order)
        if sums != (c1, c2):
            first_bad = index
            break
    if first_bad is None:
        return None
    if header_bad and frames:  # the header's salts may be what was damaged: use the frames'
        salt1, salt2 = struct.unpack(">2I", data[_WAL_HEADER + 8 : _WAL_HEADER + 16])
    commits = 0
    for index in range(first_bad, frames):
        at = _WAL_HEADER + index * frame_size
        _, db_size, s1, s2 = struct.unpack(">4I", data[at : at + 16])
        commits += db_size != 0 and (s1, s2) == (salt1, salt2)
    if commits < 2:
        return None
    if header_bad:
        return 0, 0, commits
    return _WAL_HEADER + first_bad * frame_size, first_bad + 1, commits


def _wal_checksum(buf: bytes, s0: int, s1: int, order: str) -> tuple[int, int]:
    """SQLite's WAL checksum of `buf` (a multiple of 8 bytes), continuing from (s0, s1)."""
    words = struct.unpack(f"{order}{len(buf) // 4}I", buf)
    for x0, x1 in zip(words[0::2], words[1::2], strict=True):
        s0 = (s0 + x0 + s1) & 0xFFFFFFFF
        s1 = (s1 + x1 + s0) & 0xFFFFFFFF
    return s0, s1
