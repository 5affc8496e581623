"""A job summary as a row of `job_summaries`, in either backend, and back.

What is filtered or sorted on has a column (`COLUMNS`, in this order); the rest of the
summary is one MessagePack body. The appending process drafts the row (`draft`), the writer
stamps its position and time (`row_of`), and readers turn a row back into a summary
(`summary_of`). The tables themselves are each backend's: `eventlog.sqlite.projection.schema`,
`eventlog.postgres.schema`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from eventlog.errors import CorruptEventError
from eventlog.summaries import ERROR_EXCERPT, JobSummary

# Each column costs the writer a bound parameter and a share of the upsert, per append:
# 22 columns cost twice what 9 do (bench/RESULTS.md, "The read model").
COLUMNS = (
    "job_id, stream_id, datasource, interval_start, interval_end, phase, position, changed_at, body"
)
Row = tuple[Any, ...]
_encode = msgspec.msgpack.Encoder().encode
_decode_body = msgspec.msgpack.Decoder().decode
_FIELDS = msgspec.structs.fields(JobSummary)
# What the columns hold is blanked in the body, and the body is an array of the fields'
# values, not a map of their names: the row is written on every append of its job, and its
# bytes are the writer's cost (bench/RESULTS.md, "The read model").
_IN_COLUMNS = {"job_id": "", "datasource": "", "interval": "", "phase": "", "position": 0}


def _body_of(s: JobSummary) -> bytes:
    blanked = msgspec.structs.replace(s, **_IN_COLUMNS, changed_at=0.0)
    return _encode(msgspec.structs.astuple(blanked))


def _summary_of_body(raw: Any) -> JobSummary:
    value = _decode_body(raw)
    if isinstance(value, list):  # schema 4 on: the fields' values in declaration order
        if len(value) > len(_FIELDS):
            raise TypeError(f"{len(value)} values for {len(_FIELDS)} fields")
        value = {f.name: v for f, v in zip(_FIELDS, value, strict=False)}
    return msgspec.convert(value, JobSummary)  # a map: rows written before schema 4


class SummaryDraft(msgspec.Struct, frozen=True, array_like=True):
    """A summary as the writer takes it: its columns and its encoded body, made by the
    appending process (`draft`), so the writer only stamps the position and the time."""

    job_id: str
    datasource: str
    interval_start: str
    interval_end: str
    phase: str
    body: bytes


def draft(s: JobSummary) -> SummaryDraft:
    """`s` ready for the writer: the error cut to its excerpt, the body encoded."""
    start, _, end = s.interval.partition("/")
    if s.last_error is not None and len(s.last_error) > ERROR_EXCERPT:
        s = msgspec.structs.replace(s, last_error=s.last_error[:ERROR_EXCERPT])
    return SummaryDraft(s.job_id, s.datasource, start, end, s.phase, _body_of(s))


def row_of(stream_id: str, d: SummaryDraft, position: int, changed_at: float) -> Row:
    """The table row of draft `d` as of `position` (the seq of its stream's last event)."""
    return (
        d.job_id,
        stream_id,
        d.datasource,
        d.interval_start,
        d.interval_end,
        d.phase,
        position,
        changed_at,
        d.body,
    )


def summary_of(row: Sequence[Any]) -> JobSummary:
    """A row of `SELECT {COLUMNS}` as a summary (`stream_id` is the log's business). The
    columns win over the body, so that a column edited by hand shows in what is read.

    Raises:
        CorruptEventError: the body is not a summary (edited outside the orchestrator).
    """
    try:
        body = _summary_of_body(row[8])
    except (msgspec.DecodeError, msgspec.ValidationError, TypeError) as exc:
        raise CorruptEventError(
            f"the summary row of job {row[0]} cannot be decoded ({exc}); "
            "`druid-orch audit rebuild-summaries` rebuilds it from the events"
        ) from exc
    return msgspec.structs.replace(
        body,
        job_id=row[0],
        datasource=row[2],
        interval=f"{row[3]}/{row[4]}",
        phase=row[5],
        position=row[6],
        changed_at=row[7],
    )
