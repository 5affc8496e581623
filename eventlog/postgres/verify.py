"""`verify` for the PostgreSQL log: the same chain walk as the SQLite file's, over `seq`.

Every event's hash is recomputed from its predecessor's (`eventlog.chain`), so a log copied
from SQLite (`druid-orch eventlog copy`) verifies with the hashes it was written with, and
the `head` row must name the newest event, so a cut tail shows.
"""

from __future__ import annotations

import contextlib
from typing import Any

from eventlog.chain import GENESIS_HASH, chain_hash
from eventlog.sqlite.verify import BreakKind, BrokenLink, ChainReport

_CHUNK = 5000


async def verify(conn: Any, where: str) -> ChainReport:
    """Walk the whole chain of the log `conn` is on, in one repeatable-read snapshot."""
    events = 0
    seq, prev = 0, GENESIS_HASH
    broken: BrokenLink | None = None
    # One snapshot for the walk; inside a caller's transaction (a copy), that one.
    snapshot = (
        contextlib.nullcontext()
        if conn.is_in_transaction()
        else conn.transaction(isolation="repeatable_read", readonly=True)
    )
    async with snapshot:
        head_seq, head_hash = await conn.fetchrow("SELECT seq, hash FROM head WHERE id = 1")
        while broken is None:
            rows = await conn.fetch(
                "SELECT seq, stream_id, version, type, recorded_at, body, hash FROM events "
                "WHERE seq > $1 ORDER BY seq LIMIT $2",
                seq,
                _CHUNK,
            )
            for r_seq, sid, version, type_, at, body, stored in rows:
                if r_seq != seq + 1:
                    broken = BrokenLink(
                        seq + 1, "missing", f"event {seq + 1} is missing (the next is {r_seq})"
                    )
                    break
                expected = chain_hash(prev, r_seq, sid, version, type_, at, bytes(body))
                if expected != bytes(stored):
                    broken = BrokenLink(
                        r_seq, "altered", f"event {r_seq} ({sid} v{version}) was altered"
                    )
                    break
                seq, prev = r_seq, expected
                events += 1
            if len(rows) < _CHUNK:
                break
    if broken is None and (head_seq, bytes(head_hash)) != (seq, prev):
        kind: BreakKind = "truncated" if head_seq > seq else "head"
        broken = BrokenLink(
            min(seq + 1, head_seq) if head_seq else None,
            kind,
            f"the head record names seq {head_seq}, the newest event is seq {seq}"
            if head_seq != seq
            else "the newest event's hash does not match the head record",
        )
    return ChainReport(path=where, events=events, head_seq=seq, head_hash=prev.hex(), broken=broken)
