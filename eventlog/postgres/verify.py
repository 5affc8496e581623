"""`verify` for the PostgreSQL log: the same chain walk as the SQLite file's, over `seq`.

Every event's hash is recomputed from its predecessor's (`eventlog.chain`), so a log copied
from SQLite (`druid-orch eventlog copy`) verifies with the hashes it was written with; a run
of seqs retention archived away is stepped over through its checkpoint, which must follow
from the hash before it (and, with `archives`, match the archive file); and the `head` row
must name the newest event, so a cut tail shows.
"""

from __future__ import annotations

import contextlib
from typing import Any

from eventlog.chain import chain_hash
from eventlog.chain_report import BreakKind, BrokenLink, BrokenLinkError, ChainReport, ChainWalk

_CHUNK = 5000


async def verify(conn: Any, where: str, *, archives: bool = False) -> ChainReport:
    """Walk the whole chain of the log `conn` is on, in one repeatable-read snapshot."""
    broken: BrokenLink | None = None
    # One snapshot for the walk; inside a caller's transaction (a copy), that one.
    snapshot = (
        contextlib.nullcontext()
        if conn.is_in_transaction()
        else conn.transaction(isolation="repeatable_read", readonly=True)
    )
    async with snapshot:
        head_seq, head_hash = await conn.fetchrow("SELECT seq, hash FROM head WHERE id = 1")
        walk = ChainWalk(archives)
        walk.gaps = {
            int(first): (int(after), bytes(h), p and bytes(p), str(to), sha)
            for first, after, h, p, to, sha in await conn.fetch(
                "SELECT first_seq, after_seq, hash, prev_hash, archived_to, archive_sha256 "
                "FROM checkpoints ORDER BY after_seq"
            )
        }
        try:
            while True:
                rows = await conn.fetch(
                    "SELECT seq, stream_id, version, type, recorded_at, body, hash FROM events "
                    "WHERE seq > $1 ORDER BY seq LIMIT $2",
                    walk.next_seq - 1,
                    _CHUNK,
                )
                for r_seq, sid, version, type_, at, body, stored in rows:
                    walk.step_over_gaps(r_seq)
                    if r_seq != walk.next_seq:
                        raise BrokenLinkError(
                            walk.next_seq,
                            "checkpoint",
                            f"seq {r_seq} is present but covered by a checkpoint",
                        )
                    expected = chain_hash(walk.prev, r_seq, sid, version, type_, at, bytes(body))
                    if expected != bytes(stored):
                        raise BrokenLinkError(
                            r_seq, "altered", f"event {r_seq} ({sid} v{version}) was altered"
                        )
                    walk.next_seq, walk.prev = r_seq + 1, expected
                    walk.events += 1
                if len(rows) < _CHUNK:
                    break
            walk.step_over_gaps(None)
        except BrokenLinkError as exc:
            broken = exc.link
    seq, prev = walk.next_seq - 1, walk.prev
    if broken is None and (head_seq, bytes(head_hash)) != (seq, prev):
        kind: BreakKind = "truncated" if head_seq > seq else "head"
        broken = BrokenLink(
            min(seq + 1, head_seq) if head_seq else None,
            kind,
            f"the head record names seq {head_seq}, the newest event is seq {seq}"
            if head_seq != seq
            else "the newest event's hash does not match the head record",
        )
    return walk.report(where, broken)
