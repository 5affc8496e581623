"""What happened: event types and the hash-chained, group-committed SQLite journal."""

from eventlog.errors import (
    ConcurrencyConflictError,
    CorruptEventError,
    EventLogError,
    EventLogUnavailableError,
    SchemaVersionError,
)
from eventlog.store import AppendResult, EventLog, Recorded

__all__ = [
    "AppendResult",
    "ConcurrencyConflictError",
    "CorruptEventError",
    "EventLog",
    "EventLogError",
    "EventLogUnavailableError",
    "Recorded",
    "SchemaVersionError",
]
