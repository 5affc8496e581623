"""The SQLite backend of the event log (`SQLiteEventLog`).

The name loads on first use (PEP 562), so that the writer process, which imports
`eventlog.sqlite.writer_process` and little else, does not load the log object.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventlog.sqlite.store import SQLiteEventLog


def __getattr__(name: str) -> Any:
    if name != "SQLiteEventLog":
        raise AttributeError(f"module 'eventlog.sqlite' has no attribute {name!r}")
    value = importlib.import_module("eventlog.sqlite.store").SQLiteEventLog
    globals()[name] = value
    return value


__all__ = ["SQLiteEventLog"]
