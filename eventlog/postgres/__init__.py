"""The PostgreSQL backend of the event log (`PostgresEventLog`), with the leader's lease
(`eventlog.postgres.lease`) that fences its appends; docs/ha.md tells the story.

The names load on first use (PEP 562), so that reading a configuration (which checks
`eventlog.url` with `eventlog.postgres.urls`) does not load the driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventlog.postgres.store import PostgresEventLog
    from eventlog.postgres.urls import is_postgres_url, redacted
    from eventlog.postgres.writer import Fence, FencedOffError

_HOMES = {
    "Fence": "writer",
    "FencedOffError": "writer",
    "PostgresEventLog": "store",
    "is_postgres_url": "urls",
    "redacted": "urls",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'eventlog.postgres' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"eventlog.postgres.{home}"), name)
    globals()[name] = value
    return value


__all__ = ["Fence", "FencedOffError", "PostgresEventLog", "is_postgres_url", "redacted"]
