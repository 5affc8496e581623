"""What happened: event types and the hash-chained, group-committed SQLite journal."""

from eventlog.archive import ArchiveReport, verify_archive
from eventlog.audit import BrokenLink, ChainReport, verify
from eventlog.errors import (
    ConcurrencyConflictError,
    CorruptEventError,
    EventLogClosedError,
    EventLogError,
    EventLogUnavailableError,
    SchemaVersionError,
    StreamArchivedError,
)
from eventlog.records import ANY_VERSION, AppendResult, ReadStats, Recorded, WriterStats
from eventlog.replay import Loaded, StreamFolder
from eventlog.retention import RetentionReport, archive_closed_streams
from eventlog.store import EventLog
from eventlog.upcasting import upcaster

__all__ = [
    "ANY_VERSION",
    "AppendResult",
    "ArchiveReport",
    "BrokenLink",
    "ChainReport",
    "ConcurrencyConflictError",
    "CorruptEventError",
    "EventLog",
    "EventLogClosedError",
    "EventLogError",
    "EventLogUnavailableError",
    "Loaded",
    "ReadStats",
    "Recorded",
    "RetentionReport",
    "SchemaVersionError",
    "StreamArchivedError",
    "StreamFolder",
    "WriterStats",
    "archive_closed_streams",
    "upcaster",
    "verify",
    "verify_archive",
]
