"""The database file: schema versions and migrations, and clear refusals of files that are
not, or no longer, a sound event log. A refused file is never modified."""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import eventlog.sqlite.header
import eventlog.sqlite.migrations
from eventlog.errors import CorruptEventError, EventLogUnavailableError, SchemaVersionError
from eventlog.events import StatusObserved
from eventlog.records import ANY_VERSION
from eventlog.sqlite.migrations import APPLICATION_ID, DEFAULT_PAGE_SIZE, SCHEMA_VERSION
from eventlog.sqlite.store import SQLiteEventLog
from eventlog.sqlite.verify import verify_file
from tests.golden.test_eventlog_golden import SCHEMA_1


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pragma(db: Path, name: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])
    finally:
        conn.close()


def columns(db: Path, table: str) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


async def write_log(db: Path, events: int = 8) -> None:
    async with SQLiteEventLog(db) as log:
        for n in range(events):
            event = StatusObserved(at=float(n), task_id="t", runner_status=f"RUNNING-{n:04d}")
            await log.append(f"job:{n % 2}", [event], ANY_VERSION)


def schema_1_file(db: Path) -> None:
    """A schema-1 file with two events and one (hand-made) checkpoint before them."""
    from eventlog.chain import GENESIS_HASH, chain_hash, encode_head

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(
        f"BEGIN;{SCHEMA_1}PRAGMA application_id = {APPLICATION_ID};PRAGMA user_version = 1;COMMIT;"
    )
    gap_hash = hashlib.sha256(b"archived seqs 1..3").digest()
    conn.execute("INSERT INTO checkpoints VALUES (3, ?, 'old-archive.jsonl', 3, 1.0)", (gap_hash,))
    prev = gap_hash
    for seq in (4, 5):
        body = b'{"type":"job_dead","reason":"x","at":1.0}'
        prev = chain_hash(prev, seq, "job:z", seq - 3, "job_dead", 2.0, body)
        conn.execute(
            "INSERT INTO events VALUES (?, 'job:z', ?, 'job_dead', ?, 2.0, ?)",
            (seq, seq - 3, body, prev),
        )
    conn.execute("INSERT INTO streams VALUES ('job:z', 2, 1, 2.0)")
    conn.execute("INSERT INTO meta VALUES ('head', ?)", (encode_head(5, prev),))
    conn.close()
    del GENESIS_HASH


async def test_a_new_file_is_marked_as_ours_at_the_current_schema_version(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    async with SQLiteEventLog(db):
        pass
    assert pragma(db, "application_id") == APPLICATION_ID
    assert pragma(db, "user_version") == SCHEMA_VERSION == 5


async def test_a_schema_1_file_is_upgraded_in_place_and_keeps_every_row(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    schema_1_file(db)
    async with SQLiteEventLog(db) as log:
        assert [r.seq async for r in log.read_all()] == [4, 5]
        assert await log.all_streams() == [("job:z", 2, True)]
        assert (
            await log.append("job:y", [StatusObserved(at=1, task_id="t", runner_status="R")], 0)
        ).first_seq == 6
        report = await log.verify()
        assert report.ok, report.broken
        assert (report.archived, report.checkpoints) == (3, 1)
    assert pragma(db, "user_version") == 5
    assert "archived_at" in columns(db, "streams")
    assert "position" in columns(db, "job_summaries")
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT first_seq, prev_hash FROM checkpoints").fetchone() == (1, None)
    finally:
        conn.close()


async def test_a_file_from_a_newer_version_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await write_log(db)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 6")
    conn.close()
    before = digest(db)
    with pytest.raises(SchemaVersionError, match=r"schema version 6, newer than .* \(5\)"):
        await SQLiteEventLog.open(db)
    assert digest(db) == before
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert "newer" in broken.message


async def test_a_migration_that_fails_leaves_the_file_at_its_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "e.db"
    schema_1_file(db)
    broken_step = eventlog.sqlite.migrations.STEPS[1] + "ALTER TABLE no_such_table ADD COLUMN x;"
    monkeypatch.setitem(eventlog.sqlite.migrations.STEPS, 1, broken_step)
    with pytest.raises(EventLogUnavailableError, match="from schema version 1 to 2"):
        await SQLiteEventLog.open(db, writer="thread")  # a thread sees the monkeypatch
    assert pragma(db, "user_version") == 1
    assert "archived_at" not in columns(db, "streams")
    monkeypatch.undo()
    async with SQLiteEventLog(db) as log:  # a later, working version upgrades it fine
        assert len([r async for r in log.read_all()]) == 2


@pytest.mark.parametrize("app_id", [0, 0x12345678])
async def test_another_applications_sqlite_file_is_refused_and_left_alone(
    tmp_path: Path, app_id: int
) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.execute(f"PRAGMA application_id = {app_id}")
    conn.commit()
    conn.close()
    before = digest(db)
    with pytest.raises(CorruptEventError, match=rf"another application \(application_id={app_id}"):
        await SQLiteEventLog.open(db)
    assert digest(db) == before
    assert verify_file(str(db)).broken is not None


@pytest.mark.parametrize(
    "content", [b"just some notes\n" * 20, b"\x00" * 4096, b"SQLite format 3\x00" + b"\x01" * 10]
)
async def test_a_file_that_is_not_sqlite_is_refused_with_a_clear_reason(
    tmp_path: Path, content: bytes
) -> None:
    db = tmp_path / "e.db"
    db.write_bytes(content)
    with pytest.raises(CorruptEventError) as caught:
        await SQLiteEventLog.open(db)
    assert str(db) in str(caught.value)
    assert "not an SQLite database" in str(caught.value) or "truncated" in str(caught.value)
    assert db.read_bytes() == content


def cut_in_half(db: Path) -> None:
    page = pragma(db, "page_size")
    with open(db, "r+b") as f:
        f.truncate(db.stat().st_size // 2 // page * page)


async def test_a_truncated_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await write_log(db, events=400)
    cut_in_half(db)
    before = digest(db)
    with pytest.raises(CorruptEventError, match=r"is truncated: its header describes \d+ pages"):
        await SQLiteEventLog.open(db)
    assert digest(db) == before
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert (broken.kind, "truncated" in broken.message) == ("file", True)


async def test_a_bit_flip_inside_an_event_is_found_by_verify_at_its_seq(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await write_log(db)
    data = bytearray(db.read_bytes())
    where = data.index(b"RUNNING-0005")
    data[where + 11] ^= 0x01  # "RUNNING-0005" -> "RUNNING-0004": still valid JSON
    db.write_bytes(bytes(data))
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert (broken.seq, broken.kind) == (6, "altered")
    async with SQLiteEventLog(db) as log:  # reading still works: verify is what notices
        assert len(await log.read_stream("job:1")) == 4


async def test_a_bit_flip_in_the_btree_is_reported_as_damage_not_repaired(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    await write_log(db, events=300)
    conn = sqlite3.connect(db)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    data[(root - 1) * pragma(db, "page_size")] = 0x77  # an impossible b-tree page type
    db.write_bytes(bytes(data))
    before = digest(db)
    with pytest.raises(CorruptEventError, match="malformed"):
        async with SQLiteEventLog(db) as log:
            [r async for r in log.read_all()]
    assert digest(db) == before
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert broken.kind in ("unreadable", "file")
    assert "malformed" in broken.message


async def test_an_empty_file_becomes_a_new_log(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    db.write_bytes(b"")
    async with SQLiteEventLog(db) as log:
        assert (
            await log.append("job:a", [StatusObserved(at=1, task_id="t", runner_status="R")], 0)
        ).first_seq == 1
    assert pragma(db, "application_id") == APPLICATION_ID


async def test_a_new_file_gets_the_default_page_size_or_the_one_asked_for(
    tmp_path: Path,
) -> None:
    async with SQLiteEventLog(tmp_path / "default.db"):
        pass
    async with SQLiteEventLog(tmp_path / "small.db", page_size=4096):
        pass
    assert pragma(tmp_path / "default.db", "page_size") == DEFAULT_PAGE_SIZE == 8192
    assert pragma(tmp_path / "small.db", "page_size") == 4096


async def test_an_existing_file_keeps_its_page_size_and_its_events(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    first = StatusObserved(at=1, task_id="t", runner_status="R")
    second = StatusObserved(at=2, task_id="t", runner_status="S")
    async with SQLiteEventLog(db, page_size=4096) as log:
        await log.append("job:a", [first], 0)
    async with SQLiteEventLog(db) as log:  # the default asks for 8 KiB pages: only for new files
        await log.append("job:a", [second], 1)
        assert [r.event for r in await log.read_stream("job:a")] == [first, second]
        assert (await log.verify()).ok
    assert pragma(db, "page_size") == 4096


@pytest.mark.parametrize("page_size", [0, 1000, 256, 131072])
def test_a_page_size_sqlite_cannot_use_is_refused_before_any_file_is_touched(
    tmp_path: Path, page_size: int
) -> None:
    with pytest.raises(ValueError, match=f"page_size must be a power of two .* not {page_size}"):
        SQLiteEventLog(tmp_path / "e.db", page_size=page_size)
    assert not (tmp_path / "e.db").exists()


def put_wal_of_another_database(other: Path, db: Path) -> None:
    """Put the -wal file of an unrelated SQLite database, uncheckpointed commits and all,
    beside `db` (with the same page size, so SQLite takes it for `db`'s own)."""
    conn = sqlite3.connect(other, isolation_level=None)
    conn.execute(f"PRAGMA page_size = {pragma(db, 'page_size')}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.execute("INSERT INTO t VALUES (randomblob(20000))")
    Path(f"{db}-wal").write_bytes(Path(f"{other}-wal").read_bytes())
    conn.close()


def copy_with_wal(db: Path, to: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{to}{suffix}").write_bytes(Path(f"{db}{suffix}").read_bytes())


def remove_wal(db: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


async def crash_copy(db: Path, to: Path, events: int) -> None:
    """Copy `db` with its -wal and -shm while a writer holds it, as a crash would leave it."""
    async with SQLiteEventLog(db) as log:
        for n in range(events):
            event = StatusObserved(at=float(n), task_id="t", runner_status=f"RUNNING-{n:04d}")
            await log.append(f"job:{n % 2}", [event], ANY_VERSION)
        copy_with_wal(db, to)


async def test_a_wal_file_of_another_database_is_refused_and_the_log_is_left_alone(
    tmp_path: Path,
) -> None:
    db = tmp_path / "e.db"
    await write_log(db)
    before = digest(db)
    put_wal_of_another_database(tmp_path / "other.db", db)
    wal = f"{db}-wal"
    with pytest.raises(CorruptEventError) as caught:
        await SQLiteEventLog.open(db)
    assert digest(db) == before  # the foreign pages were not copied into the log
    message = str(caught.value)
    assert "another application" in message
    assert f"read together with {wal}" in message
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert broken.kind == "file"
    assert digest(db) == before
    remove_wal(db)  # what a person does once they see whose -wal it is
    async with SQLiteEventLog(db) as log:
        assert len([r async for r in log.read_all()]) == 8


async def test_verify_reads_a_hot_wal_without_checkpointing_it_into_the_log(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "copy.db"
    await crash_copy(tmp_path / "e.db", copy, events=6)
    before = {s: digest(Path(f"{copy}{s}")) for s in ("", "-wal")}
    report = verify_file(str(copy))
    assert (report.ok, report.events) == (True, 6)
    assert {s: digest(Path(f"{copy}{s}")) for s in ("", "-wal")} == before


async def test_a_directory_at_the_logs_path_is_refused_by_name(tmp_path: Path) -> None:
    db = tmp_path / "logs"
    db.mkdir()
    with pytest.raises(CorruptEventError, match=f"{db} is a directory, not an event log file"):
        await SQLiteEventLog.open(db)
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert (broken.kind, broken.message) == ("file", f"{db} is a directory, not an event log file")
    assert list(db.iterdir()) == []


def break_the_stream_index(db: Path) -> None:
    """Make the newest (stream_id, version) index entry of job:1 name job:9 instead."""
    conn = sqlite3.connect(db)
    root = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_events_1'"
    ).fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    start = (root - 1) * page_size
    page = bytes(data[start : start + page_size])
    where = start + page.rindex(b"job:1")
    data[where : where + 5] = b"job:9"
    db.write_bytes(bytes(data))


async def test_a_damaged_index_that_the_chain_walk_never_reads_fails_verify(
    tmp_path: Path,
) -> None:
    db = tmp_path / "e.db"
    await write_log(db)
    break_the_stream_index(db)
    before = digest(db)
    async with SQLiteEventLog(db) as log:  # why it matters: reads by stream go through the index
        assert len(await log.read_stream("job:1")) < 4  # of the 4 it holds
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert broken.kind == "unreadable"
    assert f"{db} is damaged outside the event rows (SQLite's integrity check: " in broken.message
    assert "missing from index sqlite_autoindex_events_1" in broken.message
    assert digest(db) == before


def flip_a_byte_in_wal_frame(db: Path, frame: int) -> int:
    """Flip a byte in the page of the `frame`th (from 1) frame of `db`'s -wal; its offset."""
    frame_start = 32 + (frame - 1) * (24 + pragma_of_wal(db))
    wal = Path(f"{db}-wal")
    data = bytearray(wal.read_bytes())
    data[frame_start + 24 + 100] ^= 0x01
    wal.write_bytes(bytes(data))
    return frame_start


def wal_frames(db: Path) -> int:
    return (Path(f"{db}-wal").stat().st_size - 32) // (24 + pragma_of_wal(db))


def pragma_of_wal(db: Path) -> int:
    """The page size written in `db`'s -wal header (reading it through SQLite would recover)."""
    return int.from_bytes(Path(f"{db}-wal").read_bytes()[8:12], "big")


async def test_a_wal_damaged_before_committed_frames_is_refused_not_silently_cut(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "copy.db"
    await crash_copy(tmp_path / "e.db", copy, events=40)
    async with SQLiteEventLog(copy) as log:  # undamaged, the crash copy opens with every event
        assert len([r async for r in log.read_all()]) == 40
    await crash_copy(tmp_path / "f.db", copy, events=40)
    at = flip_a_byte_in_wal_frame(copy, frame=2)
    before = {s: digest(Path(f"{copy}{s}")) for s in ("", "-wal")}
    with pytest.raises(CorruptEventError) as caught:
        await SQLiteEventLog.open(copy)
    assert f"{copy}-wal is damaged at frame 2 (byte {at}): SQLite would ignore it" in str(
        caught.value
    )
    assert "committed transactions" in str(caught.value)
    assert f"cut {copy}-wal to {at} bytes" in str(caught.value)
    assert {s: digest(Path(f"{copy}{s}")) for s in ("", "-wal")} == before
    broken = verify_file(str(copy)).broken
    assert broken is not None
    assert broken.kind == "file"
    assert {s: digest(Path(f"{copy}{s}")) for s in ("", "-wal")} == before


async def test_a_wal_torn_in_its_last_transaction_still_opens_without_it(tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    await crash_copy(tmp_path / "e.db", copy, events=40)
    # As a crash during the last commit may leave it: SQLite drops that commit, as it should.
    flip_a_byte_in_wal_frame(copy, frame=wal_frames(copy))
    async with SQLiteEventLog(copy) as log:
        assert len([r async for r in log.read_all()]) == 39


async def test_a_log_missing_a_table_is_refused_as_damaged_not_as_unavailable(
    tmp_path: Path,
) -> None:
    db = tmp_path / "e.db"
    await write_log(db)
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE events")
    conn.close()
    before = digest(db)
    with pytest.raises(CorruptEventError, match=rf"{db} is marked as an event log \(schema "):
        await SQLiteEventLog.open(db)
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert "has no events table" in broken.message
    assert digest(db) == before


def flip_a_byte_in_wal_header(db: Path, offset: int) -> None:
    wal = Path(f"{db}-wal")
    data = bytearray(wal.read_bytes())
    data[offset] ^= 0x01
    wal.write_bytes(bytes(data))


@pytest.mark.parametrize("offset", [16, 28], ids=["salt", "checksum"])
async def test_a_wal_with_a_damaged_header_is_refused_not_silently_ignored(
    tmp_path: Path, offset: int
) -> None:
    copy = tmp_path / "copy.db"
    await crash_copy(tmp_path / "e.db", copy, events=40)
    flip_a_byte_in_wal_header(copy, offset)
    with pytest.raises(CorruptEventError, match=f"{copy}-wal is damaged in its header: "):
        await SQLiteEventLog.open(copy)


def test_wal_damage_that_moves_between_reads_is_a_writer_at_work_not_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "e.db"
    Path(f"{db}-wal").write_bytes(b"frames")
    seen = iter([(8248, 2, 3), (16464, 3, 3), (16464, 3, 3)])  # a frame being written, then done
    monkeypatch.setattr(eventlog.sqlite.header, "_wal_damage", lambda data: next(seen))
    eventlog.sqlite.header.check_wal(db)  # no error
    monkeypatch.setattr(eventlog.sqlite.header, "_wal_damage", lambda data: (8248, 2, 3))
    with pytest.raises(CorruptEventError, match="is damaged at frame 2 \\(byte 8248\\)"):
        eventlog.sqlite.header.check_wal(db)


def _checksum_one_pair_at_a_time(buf: bytes, s0: int, s1: int, order: str) -> tuple[int, int]:
    """SQLite's WAL checksum as its source writes it (walChecksumBytes)."""
    words = struct.unpack(f"{order}{len(buf) // 4}I", buf)
    for x0, x1 in zip(words[0::2], words[1::2], strict=True):
        s0 = (s0 + x0 + s1) & 0xFFFFFFFF
        s1 = (s1 + x1 + s0) & 0xFFFFFFFF
    return s0, s1


@given(
    st.binary(max_size=200).map(lambda b: b[: len(b) - len(b) % 8]) | st.just(b"\xff" * 4096),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.sampled_from("<>"),
)
def test_the_unrolled_wal_checksum_is_sqlites(buf: bytes, s0: int, s1: int, order: str) -> None:
    expected = _checksum_one_pair_at_a_time(buf, s0, s1, order)
    assert eventlog.sqlite.header._wal_checksum(buf, s0, s1, order) == expected
