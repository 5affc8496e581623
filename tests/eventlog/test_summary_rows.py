"""A job summary's row: what the columns hold is not repeated in the body, and bodies written
before schema 4 (a map of field names) still read."""

from __future__ import annotations

import msgspec
import pytest

from eventlog.errors import CorruptEventError
from eventlog.summaries import JobSummary
from eventlog.writes.summary_rows import draft, row_of, summary_of

SUMMARY = JobSummary(
    job_id="orch_wikipedia_2024-01-07_abc",
    datasource="wikipedia",
    interval="2024-01-07T00:00:00.000Z/2024-01-08T00:00:00.000Z",
    phase="running",
    terminal=False,
    attempt=2,
    max_attempts=3,
    task_id="index_parallel_T1_abc",
    reason="the Overlord answered 503",
    accepted_at=1700000000.5,
)


def test_a_row_reads_back_as_the_summary_with_its_position_and_time() -> None:
    row = row_of("job:x", draft(SUMMARY), 42, 1700000100.25)
    assert summary_of(row) == msgspec.structs.replace(
        SUMMARY, position=42, changed_at=1700000100.25
    )


def test_the_body_does_not_repeat_the_columns() -> None:
    body = row_of("job:x", draft(SUMMARY), 42, 1.0)[8]
    for column_value in (SUMMARY.job_id, SUMMARY.datasource, SUMMARY.interval, "running"):
        assert column_value.encode() not in body
    assert len(body) < len(msgspec.msgpack.encode(SUMMARY)) / 2


def test_a_body_written_before_schema_4_still_reads() -> None:
    row = list(row_of("job:x", draft(SUMMARY), 42, 1.0))
    row[8] = msgspec.msgpack.encode(SUMMARY)  # schema 3 wrote the whole struct as a map
    assert summary_of(row) == msgspec.structs.replace(SUMMARY, position=42, changed_at=1.0)


@pytest.mark.parametrize("body", [b"\xc1", msgspec.msgpack.encode(list(range(99))), b"\x05"])
def test_a_body_that_is_not_a_summary_is_reported_with_the_job(body: bytes) -> None:
    row = list(row_of("job:x", draft(SUMMARY), 42, 1.0))
    row[8] = body
    with pytest.raises(CorruptEventError, match="orch_wikipedia_2024-01-07_abc"):
        summary_of(row)
