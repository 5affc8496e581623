"""What happened: the event log's contract (`EventLog`), event types, replay and retention;
the SQLite backend is `eventlog.sqlite.SQLiteEventLog`.

The names below load on first use (PEP 562), so that the writer process, which imports
`eventlog.sqlite.writer_process` and little else, starts in half the time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventlog.chain_report import BrokenLink, ChainReport
    from eventlog.contract import EventLog
    from eventlog.errors import (
        ConcurrencyConflictError,
        CorruptEventError,
        EventLogClosedError,
        EventLogError,
        EventLogUnavailableError,
        SchemaVersionError,
        StreamArchivedError,
        WriterLostError,
    )
    from eventlog.records import ANY_VERSION, AppendResult, ReadStats, Recorded, WriterStats
    from eventlog.replay import Loaded, StreamFolder
    from eventlog.retention.archive import ArchiveReport, verify_archive
    from eventlog.retention.closed_streams import RetentionReport, archive_closed_streams
    from eventlog.sqlite.verify import verify
    from eventlog.upcasting import upcaster

_HOMES = {
    "ArchiveReport": "retention.archive",
    "verify_archive": "retention.archive",
    "BrokenLink": "chain_report",
    "ChainReport": "chain_report",
    "verify": "sqlite.verify",
    "ConcurrencyConflictError": "errors",
    "CorruptEventError": "errors",
    "EventLogClosedError": "errors",
    "EventLogError": "errors",
    "EventLogUnavailableError": "errors",
    "SchemaVersionError": "errors",
    "StreamArchivedError": "errors",
    "WriterLostError": "errors",
    "ANY_VERSION": "records",
    "AppendResult": "records",
    "ReadStats": "records",
    "Recorded": "records",
    "WriterStats": "records",
    "Loaded": "replay",
    "StreamFolder": "replay",
    "RetentionReport": "retention.closed_streams",
    "archive_closed_streams": "retention.closed_streams",
    "EventLog": "contract",
    "upcaster": "upcasting",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'eventlog' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"eventlog.{home}"), name)
    globals()[name] = value
    return value


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
    "WriterLostError",
    "WriterStats",
    "archive_closed_streams",
    "upcaster",
    "verify",
    "verify_archive",
]
