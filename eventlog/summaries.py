"""The read model's values: one job's summary row, the questions asked of the rows, and pages.

A summary is derived data: the job's actors compute it from the state they just folded and
hand it to `EventLog.append` with the events, and the backend writes it in the same
transaction, stamping it with the log position (the seq of the append's last event) and the
commit time. So a row is never behind its stream and never ahead of it, and it can always be
recomputed from the events (`audit verify` does, `audit rebuild-summaries` rewrites it).

These types know no phase names and no SQL: phases are the actors' vocabulary, SQL the
backend's. docs/eventlog.md ("The read model") tells the whole story.
"""

from __future__ import annotations

import base64
import binascii

import msgspec

# What the backends promise: no page holds more rows than this, whatever a caller asks for.
MAX_PAGE = 1000
DEFAULT_PAGE = 100
# A page filtered by interval overlap or change time reads at most this many rows of its
# index ranges: it may come back short, even empty, with a `next` cursor to go on from (as
# a filtered scan pages in DynamoDB or Elasticsearch's search_after), so that no request
# costs more than this whatever the log holds.
SCAN_BUDGET = 2000
# A coverage query returns at most this many rows (a year of hourly chunks fits twice).
MAX_COVERAGE = 20_000
# How long a last error may be in a summary: an excerpt, the history has the whole of it.
ERROR_EXCERPT = 500


class JobSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One job as the read model holds it: the facts recorded, nothing live."""

    job_id: str
    datasource: str
    interval: str  # "start/end", ISO-8601 instants as the compiler writes them
    phase: str
    terminal: bool
    attempt: int
    max_attempts: int
    uncounted: int = 0
    task_id: str | None = None
    classification: str | None = None
    reason: str | None = None
    rule: str | None = None
    last_error: str | None = None  # an excerpt (ERROR_EXCERPT characters at most)
    pipeline: str | None = None
    held: str | None = None  # the recorded part of why it waits (a deferred submission)
    # The interval its current attempt was sent with, when a streaming watermark clipped it.
    sent_interval: str | None = None
    # The sub-task parallelism its current attempt was sent with, and why that number.
    sub_tasks: int | None = None
    sub_tasks_reason: str | None = None
    accepted_at: float | None = None
    finished_at: float | None = None
    version: int = 0  # the stream's version the row reflects
    # Set by the log when it writes the row: the seq of the last event it reflects, and the
    # time that event was recorded. Zero in a summary handed to `append`.
    position: int = 0
    changed_at: float = 0.0
    # Added after schema 4's array bodies: last, so that a body written without them
    # (shorter) still maps field to field and leaves them None.
    next_try_at: float | None = None  # when a waiting attempt or submission is due
    since: float | None = None  # since when the job is in its phase

    @property
    def interval_start(self) -> str:
        return self.interval.partition("/")[0]

    @property
    def interval_end(self) -> str:
        return self.interval.partition("/")[2]


class SummaryQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which jobs a page lists. Rows come in job id order; every filter narrows.

    `phases` empty means every phase; `overlaps` is an interval `(start, end)` in the same
    ISO-8601 form as the jobs' intervals (instants compare as text); `changed_since` is a
    time in seconds since the epoch.
    """

    phases: tuple[str, ...] = ()
    datasource: str | None = None
    overlaps: tuple[str, str] | None = None
    changed_since: float | None = None
    job_ids: tuple[str, ...] = ()
    limit: int = DEFAULT_PAGE
    after: str | None = None  # an opaque cursor from a previous page's `next`

    def bounded_limit(self) -> int:
        return max(1, min(self.limit, MAX_PAGE))


class SummaryPage(msgspec.Struct, frozen=True):
    """One page of summaries and the cursor of the next (None on the last page). A page
    with interval or time filters may hold fewer jobs than asked, or none, and still have a
    `next`: its scan budget ran out first (`SCAN_BUDGET`)."""

    jobs: list[JobSummary]
    next: str | None = None


class Changes(msgspec.Struct, frozen=True):
    """Summaries changed after a log position, oldest change first, and where to go on from:
    `position` is the last row's position, or the one asked for when nothing changed."""

    jobs: list[JobSummary]
    position: int


class CursorError(ValueError):
    """A cursor this log did not hand out (edited, truncated, or from another API)."""


_CURSOR_PREFIX = b"j1:"


def encode_cursor(job_id: str) -> str:
    """The cursor after `job_id`: opaque, so that the order it encodes may change."""
    return base64.urlsafe_b64encode(_CURSOR_PREFIX + job_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The job id a cursor continues after.

    Raises:
        CursorError: the cursor was not handed out by `encode_cursor`.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError("no prefix")
        return raw[len(_CURSOR_PREFIX) :].decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise CursorError(f"{cursor!r} is not a cursor this log handed out") from exc
