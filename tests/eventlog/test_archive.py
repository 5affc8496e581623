"""The JSON Lines archive format and the database-file header check."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog.chain import GENESIS_HASH, chain_hash, decode_head, encode_head
from eventlog.errors import CorruptEventError
from eventlog.retention.archive import (
    ArchiveHeader,
    EventRow,
    read_archive,
    runs_of,
    verify_archive,
    write_archive,
)
from eventlog.sqlite.header import check_file

bodies = st.dictionaries(
    st.text(max_size=6),
    st.one_of(
        st.text(max_size=12), st.integers(), st.floats(allow_nan=False, allow_infinity=False)
    ),
    max_size=4,
).map(lambda d: msgspec.json.encode({"type": "x", **d}))


def chained(items: list[tuple[str, bytes]], start: int = 1) -> list[EventRow]:
    rows: list[EventRow] = []
    prev = GENESIS_HASH
    for offset, (stream, body) in enumerate(items):
        seq = start + offset
        prev = chain_hash(prev, seq, stream, 1, "x", 1.5 + seq, body)
        rows.append((seq, stream, 1, "x", 1.5 + seq, body, prev))
    return rows


def archive(path: Path, rows: list[EventRow]) -> str:
    header = ArchiveHeader(
        source="test", created_at=0.0, events=len(rows), runs=runs_of(rows, {1: GENESIS_HASH})
    )
    return write_archive(path, header, rows)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), bodies), min_size=1, max_size=20))
def test_an_archive_keeps_every_stored_byte_and_verifies(
    tmp_path: Path, items: list[tuple[str, bytes]]
) -> None:
    rows = chained(items)
    path = tmp_path / "a.jsonl"
    sha = archive(path, rows)
    report = verify_archive(path)
    assert (report.events, report.sha256) == (len(rows), sha)
    _header, events = read_archive(path)
    assert [(e.seq, e.stream_id, bytes(e.body)) for e in events] == [
        (r[0], r[1], r[5]) for r in rows
    ]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_changing_any_event_line_of_an_archive_is_caught(
    tmp_path: Path, data: st.DataObject
) -> None:
    rows = chained([(f"s{n % 3}", msgspec.json.encode({"type": "x", "n": n})) for n in range(8)])
    path = tmp_path / "a.jsonl"
    archive(path, rows)
    lines = path.read_bytes().splitlines(keepends=True)
    line = data.draw(st.integers(1, len(lines) - 1), label="line")
    target = lines[line]
    position = data.draw(st.integers(0, len(target) - 2), label="byte")
    flipped = bytearray(target)
    flipped[position] = data.draw(st.sampled_from(b'0123456789abcdef"{}:,x'), label="new byte")
    if flipped == target:
        return
    lines[line] = bytes(flipped)
    path.write_bytes(b"".join(lines))
    with pytest.raises(CorruptEventError):
        verify_archive(path)


def test_runs_split_where_seqs_are_not_consecutive() -> None:
    rows = chained([("a", b"{}")] * 6)
    kept = [rows[0], rows[2], rows[3], rows[5]]
    runs = runs_of(kept, {1: GENESIS_HASH, 3: rows[1][6], 6: rows[4][6]})
    assert [(r.first_seq, r.after_seq) for r in runs] == [(1, 1), (3, 4), (6, 6)]
    assert runs[1].prev_hash == rows[1][6].hex()
    assert runs[2].hash == rows[5][6].hex()


def test_a_line_that_is_not_an_event_is_named_by_its_number(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    archive(path, chained([("a", b"{}")] * 3))
    lines = path.read_text().splitlines()
    lines[2] = "not json at all"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorruptEventError, match="line 3 is not an event"):
        verify_archive(path)


def test_a_file_that_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"format": "something-else", "version": 1}\n')
    with pytest.raises(CorruptEventError, match="line 1 is not an archive header"):
        verify_archive(path)


def test_the_head_record_round_trips_and_garbage_is_refused() -> None:
    digest = chain_hash(GENESIS_HASH, 1, "s", 1, "x", 1.0, b"{}")
    assert decode_head(encode_head(7, digest)) == (7, digest)
    assert decode_head(encode_head(7, digest).decode()) == (7, digest)
    for bad in (b"[1]", b"nope", 5, b'[1, "zz"]'):
        with pytest.raises(ValueError, match="is not"):
            decode_head(bad)


def test_the_chain_hash_covers_every_part_of_an_event() -> None:
    base = (GENESIS_HASH, 1, "s", 1, "x", 1.0, b"{}")
    reference = chain_hash(*base)
    for index, changed in enumerate([b"\x01" * 32, 2, "t", 2, "y", 1.5, b"{ }"]):
        variant = list(base)
        variant[index] = changed
        assert chain_hash(*variant) != reference, f"part {index} is not covered"


def test_the_header_check_accepts_missing_and_empty_files(tmp_path: Path) -> None:
    check_file(tmp_path / "missing.db")
    (tmp_path / "empty.db").write_bytes(b"")
    check_file(tmp_path / "empty.db")


def test_the_header_check_refuses_a_short_or_damaged_header(tmp_path: Path) -> None:
    short = tmp_path / "short.db"
    short.write_bytes(b"SQLite format 3\x00" + b"\x00" * 20)
    with pytest.raises(CorruptEventError, match="less than the 100-byte SQLite header"):
        check_file(short)
    conn = sqlite3.connect(tmp_path / "ok.db")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    data = bytearray((tmp_path / "ok.db").read_bytes())
    data[16:18] = (1000).to_bytes(2, "big")
    (tmp_path / "bad.db").write_bytes(bytes(data))
    with pytest.raises(CorruptEventError, match="page size 1000 is invalid"):
        check_file(tmp_path / "bad.db")
