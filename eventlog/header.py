"""A look at the database file's header before SQLite opens it.

SQLite's own messages for a damaged file ("file is not a database", "database disk image is
malformed") do not say which file or what is wrong with it, and some damage (a file cut
short by a failed copy) only shows once a query reaches the missing pages. Reading the
100-byte header first lets us refuse such files at once with a sentence that names the
problem. Nothing here writes to the file: repairing a log is a person's decision.
"""

from __future__ import annotations

import os
from pathlib import Path

from eventlog.errors import CorruptEventError, EventLogUnavailableError

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_SIZE = 100


def check_file(path: str | Path) -> None:
    """Refuse a file that is not SQLite or is shorter than its header says.

    A missing or empty file is fine: it becomes a new log.

    Raises:
        CorruptEventError: the file is not an SQLite database, or it is truncated.
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
    if _hot_wal(path):
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


def _hot_wal(path: str | Path) -> bool:
    try:
        return os.path.getsize(f"{path}-wal") > 0
    except FileNotFoundError:
        return False


def wal_note(path: str | Path) -> str:
    """What to add to a refusal when a `-wal` file beside the log was read as part of it."""
    if not _hot_wal(path):
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
