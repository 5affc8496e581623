"""The jobs table a person reads: one line a job, fitted to the terminal.

A row says which job (its handle, `wikipedia/2024-01-07`), its phase, its attempt, when (next
try in 42 s, finished 3 min ago) and why (the classified reason, what holds it). The Druid
task id and full intervals are shown only with `--wide`, which fits nothing. A reason that
many rows share (an Overlord outage holds every job) is said once, under the table. With a
limit, the rows that need a person (dead, retrying, held) are kept first, and a line says
how many more there are.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import time
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from actors.job.view import JobView
from service.cli.handles import handles, when
from service.cli.times import relative
from service.http.job_json import iso

DEFAULT_LIMIT = 50
DETAILS = 5  # dead jobs whose whole reason is written out under the table
SHARED = 3  # a hold reason this many rows share is said once, under the table
_ORDER = {"dead": 0, "retry_wait": 1, "failed": 1, "cancelled": 3, "succeeded": 4}
_COLOURS = {"dead": "31", "failed": "31", "retry_wait": "33", "succeeded": "32", "cancelled": "35"}


def width() -> int:
    """The terminal's width (`COLUMNS` first, as a tmux pane sets it), 80 without one."""
    return max(40, shutil.get_terminal_size((80, 24)).columns)


def fit(text: str, room: int) -> str:
    """`text` cut to `room` characters, with `…` where it was cut."""
    return text if len(text) <= room else text[: max(0, room - 1)] + "…"


def say(text: str, out: TextIO) -> None:
    """A sentence for a person, wrapped to the terminal (a command in backquotes is kept
    whole on its line where it fits)."""
    room = width()
    lines = textwrap.wrap(text, room, subsequent_indent="  ", break_on_hyphens=False)
    out.write("\n".join(lines) + "\n")
    out.flush()


def colour_wanted(out: TextIO) -> bool:
    return out.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def attempt(view: JobView) -> str:
    return f"{view.attempt}/{view.max_attempts}" if view.max_attempts > 1 else str(view.attempt)


def when_cell(view: JobView, now: float) -> str:
    if view.next_try_at is not None and not view.terminal:
        return f"next try {relative(view.next_try_at, now)}"
    if view.terminal and view.finished_at is not None:
        return relative(view.finished_at, now)
    if view.since is not None:
        ago = relative(view.since, now)
        return "just now" if ago == "now" else f"since {ago.removesuffix(' ago')}"
    return "-"


def why(view: JobView) -> str:
    """The one reason a person wants for the row: the classified failure, the hold."""
    if view.held:
        return f"held: {view.held}"
    if view.phase in ("dead", "retry_wait", "failed") and (view.reason or view.last_error):
        kind = f"{view.classification} ({view.rule})" if view.rule else view.classification
        text = view.reason or (view.last_error or "").splitlines()[0]
        return f"{kind}: {text}" if kind else text
    if view.sent_interval is not None and view.sent_interval != view.interval:
        return f"clipped at the streaming watermark: sent {when(view.sent_interval)}"
    return ""


def _priority(view: JobView) -> int:
    return 1 if view.held else _ORDER.get(view.phase, 2)


def jobs_table(
    views: Sequence[JobView],
    out: TextIO,
    *,
    wide: bool = False,
    limit: int | None = None,
    now: float | None = None,
    columns: int | None = None,
) -> None:
    """The table, then what rows share, then how many more there are (`limit`: 0 for all)."""
    now = time.time() if now is None else now
    room = columns or width()
    names = handles(views)
    shown = list(views)
    if limit and len(shown) > limit:
        keep = {v.job_id for v in sorted(shown, key=_priority)[:limit]}
        shown = [v for v in shown if v.job_id in keep]
    holds = Counter(v.held for v in views if v.held)
    shared = {reason for reason, n in holds.items() if n >= SHARED}
    if wide:
        _wide(shown, out, now)
    else:
        _fitted(shown, names, shared, out, now, room, colour_wanted(out))
    if not wide:
        _details(shown, names, shared, out, room, now)
    for reason in sorted(shared):
        said = f"{holds[reason]} jobs held: {reason}"
        lines = [said] if wide else textwrap.wrap(said, room, subsequent_indent="    ")
        out.write("\n".join(lines) + "\n")
    hidden = len(views) - len(shown)
    if hidden:
        out.write(
            _cut(f"... {hidden} more (--limit 0 shows all; --phase, --interval narrow)", room, wide)
            + "\n"
        )


def _details(
    views: Sequence[JobView],
    names: dict[str, str],
    shared: set[str],
    out: TextIO,
    room: int,
    now: float,
) -> None:
    """The whole reason of the dead jobs whose row had to cut it (the first few)."""
    told = 0
    for view in views:
        reason = why(view)
        if view.phase != "dead" or not reason or view.held in shared:
            continue
        line = f"{names[view.job_id]}: {reason}"
        if len(line) <= room or told >= DETAILS:
            continue
        told += 1
        wrapped = textwrap.wrap(line, room, subsequent_indent="    ", max_lines=4)
        out.write("\n".join(wrapped) + "\n")


def _cut(text: str, room: int, wide: bool) -> str:
    return text if wide else fit(text, room)


def _fitted(
    views: Sequence[JobView],
    names: dict[str, str],
    shared: set[str],
    out: TextIO,
    now: float,
    room: int,
    colour: bool,
) -> None:
    headers = ("JOB", "PHASE", "TRY", "WHEN", "WHY")
    rows = [
        (
            names[v.job_id],
            v.phase,
            attempt(v),
            when_cell(v, now),
            "held (below)" if v.held in shared else why(v),
        )
        for v in views
    ]
    widths = _widths(headers, rows)
    # The job's name gets at most 40 columns (then is cut): the reason takes what is left.
    widths[0] = min(widths[0], 40)
    fixed = sum(widths[:4]) + 2 * 4
    widths[4] = max(0, room - fixed)
    for row, view in zip((headers, *rows), (None, *views), strict=True):
        cells = [fit(cell, w) for cell, w in zip(row, widths, strict=True)]
        line = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        line = fit(line, room)
        if colour and view is not None and view.phase in _COLOURS:
            line = line.replace(view.phase, f"\x1b[{_COLOURS[view.phase]}m{view.phase}\x1b[0m", 1)
        out.write(line + "\n")


def _wide(views: Sequence[JobView], out: TextIO, now: float) -> None:
    headers = ("JOB", "DATASOURCE", "INTERVAL", "PHASE", "TRY", "DRUID TASK", "WHEN", "WHY")
    rows = [
        (
            v.job_id,
            v.datasource,
            v.interval,
            v.phase,
            attempt(v),
            v.task_id or "-",
            iso(v.next_try_at if v.next_try_at and not v.terminal else v.finished_at) or "-",
            why(v),
        )
        for v in views
    ]
    widths = _widths(headers, rows)
    for row in (headers, *rows):
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def count_line(views: Sequence[JobView]) -> str:
    counts = Counter(v.phase for v in views)
    noun = "job" if len(views) == 1 else "jobs"
    parts = ", ".join(f"{n} {p}" for p, n in sorted(counts.items()))
    return f"{len(views)} {noun}" + (f": {parts}" if parts else "")


def _widths(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
