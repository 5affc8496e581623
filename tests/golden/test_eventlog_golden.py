"""Golden logs: committed logs written by earlier versions must still verify, decode (through
upcasters where their tags were retired) and fold to the final states recorded with them.

`prototype_v0.jsonl` is the pre-release prototype's log (legacy tags `ingestion_requested`,
`ingestion_submitted`, `status_polled`, `failure_diagnosed`, `ingestion_cancelled`, and
older shapes of `job_accepted` and friends); `demo_v1.jsonl` is a demo run with the first
release's events. Their `*.expected.json` hold each job's final state as that version saw it.
The `make_*.py` scripts say how the files were made; never regenerate them to make a test
pass: a failure here means today's code no longer reads yesterday's history.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors.job.evolve import evolve
from actors.job.state import JobState
from eventlog.events import EVENT_TYPES, AnyEvent
from eventlog.replay import StreamFolder
from eventlog.retention.archive import ArchivedEvent, read_archive, verify_archive
from eventlog.sqlite.store import SQLiteEventLog
from eventlog.upcasting import UPCASTERS, decode_stored

GOLDEN = Path(__file__).parent
LOGS = ["prototype_v0", "demo_v1"]
FIELDS = ("phase", "attempt", "task_id", "version", "classification", "rule", "last_error")

# The walking skeleton's file format (schema version 1), frozen here as it was released.
SCHEMA_1 = """
CREATE TABLE events (seq INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, version INTEGER NOT NULL,
    type TEXT NOT NULL, body BLOB NOT NULL, recorded_at REAL NOT NULL, hash BLOB NOT NULL,
    UNIQUE (stream_id, version));
CREATE TABLE streams (stream_id TEXT PRIMARY KEY, version INTEGER NOT NULL,
    closed INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL);
CREATE INDEX streams_open ON streams (closed, stream_id);
CREATE TABLE snapshots (stream_id TEXT PRIMARY KEY, version INTEGER NOT NULL,
    schema_version INTEGER NOT NULL, state BLOB NOT NULL, taken_at REAL NOT NULL);
CREATE TABLE checkpoints (after_seq INTEGER PRIMARY KEY, hash BLOB NOT NULL,
    archived_to TEXT NOT NULL, removed INTEGER NOT NULL, taken_at REAL NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


def golden_events(name: str) -> list[ArchivedEvent]:
    _header, events = read_archive(GOLDEN / f"{name}.jsonl")
    return list(events)


def expected(name: str) -> dict[str, dict[str, Any]]:
    return msgspec.json.decode((GOLDEN / f"{name}.expected.json").read_bytes())


def summary(state: JobState) -> dict[str, Any]:
    return {name: getattr(state, name) for name in FIELDS}


def write_schema_1_file(db: Path, events: list[ArchivedEvent], closed: set[str]) -> None:
    """What the walking skeleton left on disk after writing `events`."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(
        f"BEGIN;{SCHEMA_1}PRAGMA application_id = {0x44524F43};PRAGMA user_version = 1;COMMIT;"
    )
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.seq,
                e.stream_id,
                e.version,
                e.type,
                bytes(e.body),
                e.recorded_at,
                bytes.fromhex(e.hash),
            )
            for e in events
        ],
    )
    last: dict[str, ArchivedEvent] = {e.stream_id: e for e in events}
    conn.executemany(
        "INSERT INTO streams VALUES (?, ?, ?, ?)",
        [(s, e.version, int(s in closed), e.recorded_at) for s, e in last.items()],
    )
    conn.execute(
        "INSERT INTO meta VALUES ('head', ?)",
        (msgspec.json.encode([events[-1].seq, events[-1].hash]),),
    )
    conn.execute("COMMIT")
    conn.close()


def job_folder() -> StreamFolder[JobState]:
    return StreamFolder(
        initial=JobState, evolve=evolve, state_type=JobState, schema_version=1, snapshot_every=0
    )


@pytest.mark.parametrize("name", LOGS)
def test_the_golden_log_still_verifies_with_todays_chain_code(name: str) -> None:
    report = verify_archive(GOLDEN / f"{name}.jsonl")
    assert report.events == len(golden_events(name))


def test_the_prototype_log_needs_every_one_of_its_upcasters_and_they_all_reach_current_tags() -> (
    None
):
    current = {str(t.__struct_config__.tag) for t in EVENT_TYPES}
    stored_tags = {e.type for e in golden_events("prototype_v0")}
    assert set(UPCASTERS) <= stored_tags, "every upcaster is exercised by the golden log"
    for event in golden_events("prototype_v0"):
        decoded = decode_stored(bytes(event.body))
        assert decoded.__struct_config__.tag in current


@pytest.mark.parametrize("name", LOGS)
def test_folding_the_golden_log_reaches_the_recorded_final_states(name: str) -> None:
    streams: dict[str, JobState] = {}
    for event in golden_events(name):
        decoded: AnyEvent = decode_stored(bytes(event.body))
        streams[event.stream_id] = evolve(streams.get(event.stream_id, JobState()), decoded)
    assert {sid: summary(state) for sid, state in streams.items()} == expected(name)


async def test_a_schema_1_file_written_by_the_prototype_upgrades_verifies_and_boots_to_its_states(
    tmp_path: Path,
) -> None:
    want = expected("prototype_v0")
    terminal = {sid for sid, s in want.items() if s["phase"] in ("succeeded", "dead", "cancelled")}
    db = tmp_path / "prototype.db"
    write_schema_1_file(db, golden_events("prototype_v0"), terminal)

    async with SQLiteEventLog(db) as log:
        report = await log.verify()
        assert report.ok, report.broken
        assert report.events == len(golden_events("prototype_v0"))
        folder = job_folder()
        booted = await folder.load_open(log, "job:", save=False)
        everything = await folder.fold_all(log, prefix="job:")
        assert set(booted) == set(want) - terminal == {"job:wikipedia-2023-11-04"}
        for sid, loaded in booted.items():
            assert summary(loaded.state) == want[sid]
        assert {sid: summary(s) for sid, s in everything.items()} == want

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
        # Schema 4 made every table STRICT: a value of the wrong type is refused on write.
        tables = conn.execute("SELECT name, strict FROM pragma_table_list WHERE schema = 'main'")
        loose = [name for name, strict in tables if not strict and not name.startswith("sqlite_")]
        assert loose == []
        with pytest.raises(sqlite3.IntegrityError, match="cannot store INT value in BLOB"):
            conn.execute("UPDATE events SET body = 10000000000 WHERE seq = 1")
    finally:
        conn.close()
