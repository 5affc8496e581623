"""What the operating commands print for a person: the progress bar, JSON, what `audit verify`
found on either backend (the jobs table is `service.cli.table`)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from actors.job.view import JobView
from service.cli.table import jobs_table, width
from service.http.job_json import with_iso_times

if TYPE_CHECKING:
    from actors.job.audit import VerifyReport
    from eventlog.retention.closed_streams import RetentionReport

__all__ = [
    "jobs_json",
    "jobs_table",
    "print_json",
    "progress_bar",
    "show_rebuilt",
    "show_verify",
]


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


def show_verify(where: str, report: VerifyReport, *, summaries_checked: bool, as_json: bool) -> int:
    """Print what `audit verify` found in the log at `where` (either backend); the exit code."""
    if as_json:
        print_json({**msgspec.to_builtins(report), "ok": report.ok})
    elif report.problem is None:
        chain = "hash chain intact, " if report.chain_checked else ""
        print(
            f"{where}: OK: {report.events} events in {report.streams} streams; {chain}"
            f"{report.jobs} job streams replay through the FSM without an illegal transition"
            + ("; every job summary equals the fold of its stream" if summaries_checked else "")
        )
        if not summaries_checked:
            print("note: the job summaries are not built yet; the next boot builds them")
        if not report.chain_checked:
            print("note: this version of the event log has no hash-chain verifier")
    else:
        p = report.problem
        at = f" at seq {p.seq}" if p.seq is not None else ""
        stream = f" (stream {p.stream_id}, version {p.version})" if p.stream_id else ""
        print(f"{where}: FAILED ({p.check}){at}{stream}: {p.message}")
    return 0 if report.ok else 1


def show_compacted(where: str, report: RetentionReport, *, as_json: bool) -> int:
    """Print what `audit compact` archived; the exit code."""
    if as_json:
        print_json(report)
    else:
        print(
            f"{where}: archived {report.streams} finished job streams ({report.events} "
            f"events) to {', '.join(report.archives) or 'no new archive'}"
        )
    return 0


def show_rebuilt(where: str, rows: int, *, as_json: bool) -> int:
    """Print that `audit rebuild-summaries` rewrote `rows` rows; the exit code."""
    if as_json:
        print_json({"summaries": rows})
    else:
        print(f"{where}: rebuilt {rows} job summaries from the events")
    return 0
