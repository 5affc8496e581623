"""The golden logs replay on PostgreSQL as on SQLite: copied verbatim (their stored hashes),
they verify with today's chain code, boot their live jobs and fold to the recorded states."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from eventlog.postgres import PostgresEventLog
from eventlog.postgres.copy import CopyRefusedError, copy_into
from tests import pg_support
from tests.golden.test_eventlog_golden import (
    LOGS,
    expected,
    golden_events,
    job_folder,
    summary,
)


@pytest.mark.parametrize("name", LOGS)
async def test_a_golden_log_copied_to_postgres_verifies_boots_and_folds_to_its_states(
    name: str, pg_url: str, tmp_path: Path
) -> None:
    await pg_support.fresh_schema(pg_url)
    events = golden_events(name)
    want = expected(name)
    terminal = {sid for sid, s in want.items() if s["phase"] in ("succeeded", "dead", "cancelled")}
    rows = [
        (e.seq, e.stream_id, e.version, e.type, bytes(e.body), e.recorded_at, bytes.fromhex(e.hash))
        for e in events
    ]
    last = {e.stream_id: e for e in events}
    streams = [(s, e.version, s in terminal, e.recorded_at) for s, e in last.items()]
    report = await copy_into(pg_url, [rows], streams, [])
    assert report.ok
    assert report.events == len(events)
    async with PostgresEventLog(pg_url) as log:
        assert (await log.verify()).ok
        folder = job_folder()
        booted = await folder.load_open(log, "job:", save=False)
        everything = await folder.fold_all(log, prefix="job:")
        assert set(booted) == set(want) - terminal
        for sid, loaded in booted.items():
            assert summary(loaded.state) == want[sid]
        assert {sid: summary(s) for sid, s in everything.items()} == want


async def test_verify_finds_an_event_edited_in_the_database(pg_url: str) -> None:
    await pg_support.fresh_schema(pg_url)
    rows = [
        (e.seq, e.stream_id, e.version, e.type, bytes(e.body), e.recorded_at, bytes.fromhex(e.hash))
        for e in golden_events("demo_v1")
    ]
    await copy_into(pg_url, [rows], [], [])
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("UPDATE events SET body = body || ' '::bytea WHERE seq = 3")
    finally:
        await conn.close()
    async with PostgresEventLog(pg_url) as log:
        report = await log.verify()
    assert report.broken is not None
    assert (report.broken.seq, report.broken.kind) == (3, "altered")


async def test_a_copy_into_a_log_that_holds_events_is_refused(pg_url: str) -> None:
    await pg_support.fresh_schema(pg_url)
    rows = [
        (e.seq, e.stream_id, e.version, e.type, bytes(e.body), e.recorded_at, bytes.fromhex(e.hash))
        for e in golden_events("demo_v1")
    ]
    await copy_into(pg_url, [rows], [], [])
    with pytest.raises(CopyRefusedError, match="already holds an event log"):
        await copy_into(pg_url, [rows], [], [])
