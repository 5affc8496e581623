"""`druid-orch audit` reads logs written by older versions, through the upcasters."""

from __future__ import annotations

from pathlib import Path

from actors.job.audit import timeline, verify
from eventlog.sqlite.offline import OfflineLog
from eventlog.sqlite.store import SQLiteEventLog
from service.cli.audit import render_timeline
from tests.golden.test_eventlog_golden import expected, golden_events, write_schema_1_file


async def test_audit_verifies_and_reads_the_prototypes_log_with_its_retired_tags(
    tmp_path: Path,
) -> None:
    db = tmp_path / "prototype.db"
    events = golden_events("prototype_v0")
    write_schema_1_file(db, events, closed=set())
    async with SQLiteEventLog(db):  # opening migrates the file to today's schema
        pass
    report = verify(db)
    assert report.ok, report.problem
    assert report.chain_checked
    assert report.events == len(events)
    assert report.jobs == len(expected("prototype_v0"))
    with OfflineLog.open(db) as log:
        assert sum(1 for _ in log.records()) == len(events)
    job_id = next(iter(expected("prototype_v0"))).removeprefix("job:")
    lines = render_timeline(timeline(db, job_id))
    assert lines
    assert any("job_accepted" in line for line in lines)
