"""A job as the control API writes it: each time in ISO 8601 with its zone, the epoch seconds
kept beside it as `<name>_epoch` for the programs that compute with them (issue 22). And an
entry of a stream's event history (a job's or a supervisor's), secrets masked.

The CLI's `--json` writes jobs the same way, and `RemoteControl` reads them back with
`view_of_json`, so a job makes the round trip through the API unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from actors.job.view import JobView
from eventlog.events import event_fields
from eventlog.records import Recorded
from overlord.redaction import redact

# The JobView fields that hold epoch seconds.
TIME_FIELDS = ("accepted_at", "finished_at", "next_try_at", "since")


def iso(epoch: float | None) -> str | None:
    """`2024-01-07T11:10:20Z`: UTC, to the second, with its zone."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def with_iso_times(record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` (a job's fields) with each time in ISO 8601 and its epoch as `<name>_epoch`."""
    out = dict(record)
    for name in TIME_FIELDS:
        if name in out:
            value = out[name]
            out[name] = iso(value) if isinstance(value, int | float) else value
            out[f"{name}_epoch"] = value
    return out


def job_json(view: JobView) -> dict[str, Any]:
    return with_iso_times(msgspec.to_builtins(view))


def jobs_json(views: Iterable[JobView]) -> list[dict[str, Any]]:
    return [job_json(v) for v in views]


def view_of_json(record: Mapping[str, Any]) -> JobView:
    """A job written by `job_json` (or by an API before it wrote ISO times) as a JobView."""
    fields = dict(record)
    for name in TIME_FIELDS:
        if f"{name}_epoch" in fields:
            fields[name] = fields.pop(f"{name}_epoch")
    return msgspec.convert(fields, JobView)


def views_of_json(records: Iterable[Mapping[str, Any]]) -> list[JobView]:
    return [view_of_json(r) for r in records]


def recorded_dict(recorded: Recorded) -> dict[str, Any]:
    """One history entry as plain data: its place in the log plus the event's fields, every
    secret the redaction rules know masked (in the spec, and in recorded error text)."""
    body = redact(event_fields(recorded.event))
    return {
        "seq": recorded.seq,
        "version": recorded.version,
        "recorded_at": recorded.recorded_at,
        **body,
    }
