"""Times for people: ISO 8601 with its zone where a time is written down, relative times
("in 42 s", "3 min ago") where a table has a few columns to say when.

The log keeps epoch seconds; every human output and the CLI's JSON show the ISO form, and
the JSON keeps the epoch beside it (`accepted_at_epoch`) for the programs that compute with it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# The JobView fields that hold epoch seconds.
TIME_FIELDS = ("accepted_at", "finished_at", "next_try_at", "since")


def iso(epoch: float | None) -> str | None:
    """`2024-01-07T11:10:20Z`: UTC, to the second, with its zone."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def span(seconds: float) -> str:
    """A duration as people say it: `42 s`, `3 min`, `2 h 5 min`, `3 d`."""
    s = max(0, round(seconds))
    if s < 90:
        return f"{s} s"
    if s < 90 * 60:
        return f"{round(s / 60)} min"
    if s < 36 * 3600:
        hours, rest = divmod(s, 3600)
        minutes = round(rest / 60)
        return f"{hours} h {minutes} min" if minutes and hours < 10 else f"{hours} h"
    return f"{round(s / 86400)} d"


def relative(epoch: float | None, now: float | None = None) -> str:
    """`in 42 s` for a time to come, `3 min ago` for one gone, `now` within a second."""
    if epoch is None:
        return "-"
    delta = epoch - (time.time() if now is None else now)
    if abs(delta) < 1:
        return "now"
    return f"in {span(delta)}" if delta > 0 else f"{span(-delta)} ago"


def with_iso_times(record: Mapping[str, Any]) -> dict[str, Any]:
    """A job's JSON for people and programs: each time in ISO 8601, its epoch kept beside it
    as `<name>_epoch`."""
    out = dict(record)
    for name in TIME_FIELDS:
        if name in out:
            value = out[name]
            out[name] = iso(value) if isinstance(value, int | float) else value
            out[f"{name}_epoch"] = value
    return out
