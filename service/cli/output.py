"""What the operating commands print for a person: the jobs table, the progress bar, JSON."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

import msgspec

from actors.job.view import JobView


def print_json(value: Any) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")
    sys.stdout.flush()


def progress_bar(views: list[JobView], elapsed: float, width: int = 30) -> str:
    done = sum(v.terminal for v in views)
    filled = int(width * done / max(1, len(views)))
    counts = Counter(v.phase for v in views)
    phases = " · ".join(f"{p} {n}" for p, n in sorted(counts.items()))
    bar = "#" * filled + "." * (width - filled)
    return f"[{bar}] {done}/{len(views)} done  {phases}  {elapsed:.1f}s\x1b[K"


def jobs_table(views: Sequence[JobView], out: TextIO) -> None:
    headers = ("JOB", "DATASOURCE", "INTERVAL", "PHASE", "ATTEMPT", "DRUID TASK")
    rows = [
        (v.job_id, v.datasource, v.interval, v.phase, str(v.attempt), v.task_id or "-")
        for v in views
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    for row in (headers, *rows):
        out.write(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )
    for v in views:
        if v.phase == "dead" and v.rule:
            out.write(f"{v.job_id}: {v.classification} ({v.rule}): {v.last_error}\n")
        elif v.held:
            out.write(f"{v.job_id}: held: {v.held}\n")
        if v.sent_interval is not None and v.sent_interval != v.interval:
            out.write(
                f"{v.job_id}: clipped: sent for {v.sent_interval}, ending at the streaming "
                "watermark (the rest is the stream's; `audit history` says why)\n"
            )
