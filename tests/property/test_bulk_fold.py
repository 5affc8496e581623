"""Property test of the bulk fold (`SQLiteEventLog.fold_events`): whatever the stream ids, bodies,
chunk size, prefix and starting seq, it hands the fold exactly the events a plain row-by-row
read gives, in seq order, on both of its paths (JSON chunks built by SQLite, and plain rows
for an SQLite without JSON1); and a log of current events never falls back to reading a
chunk again row by row."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path
from unittest import mock

import msgspec
from hypothesis import given, note
from hypothesis import strategies as st

from eventlog.decoding import fast_decode
from eventlog.events import AnyEvent, Event, JobAccepted, StatusObserved, encode_event
from eventlog.records import ANY_VERSION, prefix_range
from eventlog.sqlite import bulk_fold
from eventlog.sqlite.store import SQLiteEventLog
from eventlog.sqlite.writer import WriteConnection
from eventlog.writes.items import AppendItem

# Any text SQLite can store (no lone surrogates), and text made of JSON's escapes, since the
# JSON chunks must quote stream ids and carry bodies exactly.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.text(
    '\\"nu0041/\x00\n\ud7ff\ue000\U0010ffff', max_size=8
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
events = st.one_of(
    st.builds(
        StatusObserved,
        at=st.floats(0, 1e10),
        task_id=text,
        runner_status=st.sampled_from(["PENDING", "RUNNING", "WAITING"]),
        location=st.none() | text,
    ),
    st.builds(
        lambda job_id, spec: JobAccepted(
            at=1.0,
            job_id=job_id,
            datasource="d",
            interval="2024-01-01/2024-01-02",
            spec=msgspec.Raw(msgspec.json.encode(spec)),
            spec_hash="h",
        ),
        job_id=text,
        spec=st.dictionaries(text, json_values, max_size=3),
    ),
)
appends = st.lists(st.tuples(st.sampled_from(["a", "b"]) | text, events), max_size=40)


def write(path: Path, items: list[tuple[str, Event]]) -> None:
    writer = WriteConnection(str(path), "OFF")
    writer.open()
    batch = [
        AppendItem(stream, ANY_VERSION, False, [(type(e).__struct_config__.tag, encode_event(e))])
        for stream, e in items
    ]
    if batch:
        writer.commit(batch, 1_700_000_000.0)  # type: ignore[arg-type]
    writer.close()


async def folded(
    path: Path, *, json_chunks: bool, after: int, chunk: int, prefix: str
) -> list[tuple[str, AnyEvent]]:
    seen: list[tuple[str, AnyEvent]] = []

    def step(streams: list[str], evs: list[AnyEvent]) -> None:
        seen.extend(zip(streams, evs, strict=True))

    async with SQLiteEventLog(path, writer="thread") as log:
        log._json_chunks = json_chunks and log._json_chunks
        count = await log.fold_events(step, after, chunk=chunk, prefix=prefix)
    assert count == len(seen)
    return seen


@given(
    items=appends,
    after=st.integers(0, 45),
    chunk=st.integers(1, 50),
    prefix=st.sampled_from(["", "a", "b", '"', "\\", "a\U0010ffff", "\U0010ffff", "\ud7ff"]),
)
def test_the_bulk_fold_sees_what_a_row_by_row_read_sees(
    items: list[tuple[str, Event]], after: int, chunk: int, prefix: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.db"
        write(path, items)
        expected = [
            (stream, fast_decode(encode_event(event)))
            for seq, (stream, event) in enumerate(items, start=1)
            if seq > after and stream.startswith(prefix)
        ]
        for json_chunks in (True, False):
            note(f"json_chunks={json_chunks}")
            with mock.patch.object(bulk_fold, "_fold_rows", wraps=bulk_fold._fold_rows) as rows:
                got = asyncio.run(
                    folded(path, json_chunks=json_chunks, after=after, chunk=chunk, prefix=prefix)
                )
            assert got == expected
            if json_chunks:  # current events only: no chunk needs reading again row by row
                assert rows.call_count == 0


@given(prefix=text, suffix=text, other=text)
def test_a_prefix_range_holds_exactly_the_ids_that_start_with_the_prefix(
    prefix: str, suffix: str, other: str
) -> None:
    low, high = prefix_range(prefix)
    conn = sqlite3.connect(":memory:")
    try:
        for stream_id in (prefix + suffix, other, prefix[:-1] + other):
            (inside,) = conn.execute(
                "SELECT ? >= ? AND ? < ?", (stream_id, low, stream_id, high)
            ).fetchone()
            assert bool(inside) == stream_id.startswith(prefix), stream_id
    finally:
        conn.close()
