"""The PostgreSQL backend of the event log (`PostgresEventLog`), with the leader's lease
(`eventlog.postgres.lease`) that fences its appends; docs/ha.md tells the story."""

from __future__ import annotations

from eventlog.postgres.store import PostgresEventLog
from eventlog.postgres.urls import is_postgres_url, redacted
from eventlog.postgres.writer import Fence, FencedOffError

__all__ = ["Fence", "FencedOffError", "PostgresEventLog", "is_postgres_url", "redacted"]
