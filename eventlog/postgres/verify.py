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

from eventlog.chain import GENESIS_HASH, chain_hash
from eventlog.chain_report import BreakKind, BrokenLink, BrokenLinkError, ChainReport
from eventlog.retention.archive import ArchiveReport, archive_problem

_CHUNK = 5000

# after_seq, hash, prev_hash, archive, its sha256 (NULLs only if copied from an old SQLite log)
Gap = tuple[int, bytes, bytes | None, str, str | None]


class _Walk:
    def __init__(self, gaps: dict[int, Gap], archives: bool) -> None:
        self.gaps, self.archives = gaps, archives
        self.seq, self.prev = 0, GENESIS_HASH
        self.events = self.archived = self.checkpoints = 0
        self.checked: dict[str, ArchiveReport] = {}

    def step_over_gaps(self, until: int | None) -> None:
        """Consume checkpoints until the next seq is `until` (None: as far as they go)."""
        while until is None or self.seq + 1 < until:
            gap = self.gaps.pop(self.seq + 1, None)
            if gap is None:
                if until is None:
                    break
                raise BrokenLinkError(
                    self.seq + 1,
                    "missing",
                    f"events {self.seq + 1}..{until - 1} are missing, and no checkpoint "
                    "accounts for them",
                )
            after, hash_, prev, path, sha = gap
            first = self.seq + 1
            if prev is not None and prev != self.prev:
                raise BrokenLinkError(
                    first,
                    "checkpoint",
                    f"the checkpoint for seqs {first}..{after} does not follow from seq {self.seq}",
                )
            if self.archives:
                self.check_archive(first, after, hash_, prev, path, sha)
            self.archived += after - first + 1
            self.checkpoints += 1
            self.seq, self.prev = after, hash_
        if until is None and self.gaps:
            first = min(self.gaps)
            raise BrokenLinkError(
                first, "checkpoint", f"a checkpoint covers seqs from {first} that overlap events"
            )

    def check_archive(
        self, first: int, after: int, hash_: bytes, prev: bytes | None, path: str, sha: str | None
    ) -> None:
        problem = archive_problem(self.checked, path, first, after, hash_, prev, sha)
        if problem is not None:
            raise BrokenLinkError(first, "archive", problem)


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
        walk = _Walk(
            {
                int(first): (int(after), bytes(h), p and bytes(p), str(to), sha)
                for first, after, h, p, to, sha in await conn.fetch(
                    "SELECT first_seq, after_seq, hash, prev_hash, archived_to, archive_sha256 "
                    "FROM checkpoints ORDER BY after_seq"
                )
            },
            archives,
        )
        try:
            while True:
                rows = await conn.fetch(
                    "SELECT seq, stream_id, version, type, recorded_at, body, hash FROM events "
                    "WHERE seq > $1 ORDER BY seq LIMIT $2",
                    walk.seq,
                    _CHUNK,
                )
                for r_seq, sid, version, type_, at, body, stored in rows:
                    walk.step_over_gaps(r_seq)
                    if r_seq != walk.seq + 1:
                        raise BrokenLinkError(
                            walk.seq + 1,
                            "checkpoint",
                            f"seq {r_seq} is present but covered by a checkpoint",
                        )
                    expected = chain_hash(walk.prev, r_seq, sid, version, type_, at, bytes(body))
                    if expected != bytes(stored):
                        raise BrokenLinkError(
                            r_seq, "altered", f"event {r_seq} ({sid} v{version}) was altered"
                        )
                    walk.seq, walk.prev = r_seq, expected
                    walk.events += 1
                if len(rows) < _CHUNK:
                    break
            walk.step_over_gaps(None)
        except BrokenLinkError as exc:
            broken = exc.link
    seq, prev = walk.seq, walk.prev
    if broken is None and (head_seq, bytes(head_hash)) != (seq, prev):
        kind: BreakKind = "truncated" if head_seq > seq else "head"
        broken = BrokenLink(
            min(seq + 1, head_seq) if head_seq else None,
            kind,
            f"the head record names seq {head_seq}, the newest event is seq {seq}"
            if head_seq != seq
            else "the newest event's hash does not match the head record",
        )
    return ChainReport(
        path=where,
        events=walk.events,
        archived=walk.archived,
        checkpoints=walk.checkpoints,
        head_seq=seq,
        head_hash=prev.hex(),
        broken=broken,
    )
