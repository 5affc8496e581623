"""The coverage calendar: a datasource's intervals as one cell per chunk, by phase.

Pure functions of the jobs' views, so the picture is tested without a terminal. A cell says
what a person running a backfill wants to know of its chunk, the best news first: some job
of it succeeded (S), one is live (L), one failed and will retry (F), it died (D), it was
cancelled (C), or nothing was ever submitted for it (.).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec

from actors.job.view import JobView
from specs.intervals import Interval, format_instant, next_bucket

# Best news first: a cell shows the first of these that any of its jobs is in.
STATES = ("S", "L", "F", "D", "C", ".")
LEGEND = {
    "S": "succeeded",
    "L": "live",
    "F": "failed, will retry",
    "D": "dead",
    "C": "cancelled",
    ".": "never submitted",
}
_COLOURS = {"S": "32", "L": "36", "F": "33", "D": "31;1", "C": "90", ".": "2"}
MAX_CELLS = 20_000
_PER_ROW = 48


class Cell(msgspec.Struct, frozen=True):
    start: str
    end: str
    state: str
    jobs: list[str]


def state_of(view: JobView) -> str:
    if view.phase == "succeeded":
        return "S"
    if view.phase == "dead":
        return "D"
    if view.phase == "cancelled":
        return "C"
    if view.phase in ("failed", "retry_wait"):
        return "F"
    return "L"


def chunk_of(views: Sequence[JobView]) -> str | timedelta:
    """The jobs' usual chunk: a granularity name when it is one, else the length itself."""
    lengths = Counter(Interval.parse(v.interval).duration for v in views)
    if not lengths:
        return "DAY"
    length = lengths.most_common(1)[0][0]
    named = {timedelta(hours=1): "HOUR", timedelta(days=1): "DAY", timedelta(weeks=1): "WEEK"}
    if length in named:
        return named[length]
    if timedelta(days=28) <= length <= timedelta(days=31):
        return "MONTH"
    if timedelta(days=365) <= length <= timedelta(days=366):
        return "YEAR"
    return length


def _step(at: datetime, chunk: str | timedelta) -> datetime:
    return at + chunk if isinstance(chunk, timedelta) else next_bucket(at, chunk)


def build_cells(
    views: Sequence[JobView], start: datetime, end: datetime, chunk: str | timedelta
) -> list[Cell]:
    """One cell per `chunk` from `start` to `end` (at most `MAX_CELLS`)."""
    spans = sorted(((Interval.parse(v.interval), v) for v in views), key=lambda p: p[0].start)
    found: list[Cell] = []
    at = start
    first = 0
    while at < end and len(found) < MAX_CELLS:
        nxt = min(_step(at, chunk), end)
        cell = Interval(at, nxt)
        while first < len(spans) and spans[first][0].end <= at:
            first += 1  # views are sorted by start; those ending before this cell are done
        mine = [v for span, v in spans[first:] if span.overlaps(cell)]
        states = {state_of(v) for v in mine}
        state = next((s for s in STATES if s in states), ".")
        found.append(Cell(format_instant(at), format_instant(nxt), state, [v.job_id for v in mine]))
        at = nxt
    return found


def render(found: Sequence[Cell], chunk: str | timedelta, *, colour: bool) -> list[str]:
    """The calendar's lines: a month a line for daily chunks, else rows of 48 cells, each
    labelled with its first cell's start; then the legend and the counts."""

    def paint(state: str) -> str:
        return f"\x1b[{_COLOURS[state]}m{state}\x1b[0m" if colour else state

    lines: list[str] = []
    if chunk == "DAY":
        rows: dict[str, list[str]] = {}
        for cell in found:
            row = rows.setdefault(cell.start[:7], [" "] * 31)
            row[int(cell.start[8:10]) - 1] = paint(cell.state)
        lines += [f"{month}  {''.join(row).rstrip()}" for month, row in rows.items()]
    else:
        for i in range(0, len(found), _PER_ROW):
            part = found[i : i + _PER_ROW]
            lines.append(f"{part[0].start}  {''.join(paint(c.state) for c in part)}")
    counts = Counter(c.state for c in found)
    lines.append("")
    lines.append("  ".join(f"{paint(s)} {LEGEND[s]}" for s in STATES))
    lines.append(", ".join(f"{counts[s]} {LEGEND[s]}" for s in STATES if counts[s]))
    return lines
