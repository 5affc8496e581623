"""What the operating commands print for a person: the progress bar, JSON (the jobs table is
`service.cli.table`)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec

from actors.job.view import JobView
from service.cli.table import jobs_table, width
from service.http.job_json import with_iso_times

__all__ = ["jobs_json", "jobs_table", "print_json", "progress_bar"]


def print_json(value: Any) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")
    sys.stdout.flush()


def jobs_json(views: Sequence[JobView]) -> dict[str, Any]:
    """`{"jobs": [...]}` with each time in ISO 8601 and its epoch beside it."""
    return {"jobs": [with_iso_times(msgspec.to_builtins(v)) for v in views]}


def progress_bar(views: list[JobView], elapsed: float, bar_width: int = 30) -> str:
    """One line, cut to the terminal's width so that `\\r` redraws it in place."""
    done = sum(v.terminal for v in views)
    filled = int(bar_width * done / max(1, len(views)))
    counts = Counter(v.phase for v in views)
    phases = " · ".join(f"{p} {n}" for p, n in sorted(counts.items()))
    bar = "#" * filled + "." * (bar_width - filled)
    line = f"[{bar}] {done}/{len(views)} done  {elapsed:.0f} s  {phases}"
    room = width() - 1
    return (line if len(line) <= room else line[: room - 1] + "…") + "\x1b[K"
