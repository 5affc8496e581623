"""What a walk of the hash chain reports, in either backend (`verify` in
`eventlog.sqlite.verify` and `eventlog.postgres.verify`): the first broken link, if any,
and the head the walk reached; and the part of the walk both take alike (`ChainWalk`),
stepping over retention's gaps through their checkpoints.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from eventlog.chain import GENESIS_HASH
from eventlog.errors import CorruptEventError
from eventlog.retention.archive import ArchiveReport, archive_problem

BreakKind = Literal[
    "altered",
    "missing",
    "reordered",
    "truncated",
    "head",
    "checkpoint",
    "archive",
    "unreadable",
    "file",
]


class BrokenLink(msgspec.Struct, frozen=True):
    seq: int | None
    kind: BreakKind
    message: str


class ChainReport(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    events: int = 0
    archived: int = 0
    checkpoints: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH.hex()
    broken: BrokenLink | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def raise_if_broken(self) -> None:
        """Raises `CorruptEventError` with the message and seq of the first broken link."""
        if self.broken is not None:
            raise CorruptEventError(f"{self.path}: {self.broken.message}", seq=self.broken.seq)


class BrokenLinkError(Exception):
    """Ends a walk at its first broken link; the verifier turns it into the report's
    `broken`, never lets it out."""

    def __init__(self, seq: int | None, kind: BreakKind, message: str) -> None:
        super().__init__(message)
        self.link = BrokenLink(seq, kind, message)


# A checkpoint, by the first seq it covers: its last seq, the hash there, the hash before it,
# its archive and the archive's sha256 (NULLs only in a log from before they were recorded).
Gap = tuple[int, bytes, bytes | None, str, str | None]


class ChainWalk:
    """Where a walk has got to (`next_seq`, the hash before it, the counts), and its steps
    over the checkpoints `gaps` (consumed as the walk passes them)."""

    def __init__(self, archives: bool) -> None:
        self.archives = archives
        self.gaps: dict[int, Gap] = {}
        self.prev, self.next_seq = GENESIS_HASH, 1
        self.events = self.archived = self.checkpoints = 0
        self.checked_archives: dict[str, ArchiveReport] = {}

    def step_over_gaps(self, until: int | None) -> None:
        """Consume checkpoints until `next_seq` reaches `until` (None: until none are left)."""
        while until is None or self.next_seq < until:
            gap = self.gaps.pop(self.next_seq, None)
            if gap is None:
                if until is None:
                    break
                raise BrokenLinkError(
                    self.next_seq,
                    "missing",
                    f"events {self.next_seq}..{until - 1} are missing, and no checkpoint "
                    "accounts for them",
                )
            after, hash_, prev, archived_to, sha = gap
            if prev is not None and prev != self.prev:
                raise BrokenLinkError(
                    self.next_seq,
                    "checkpoint",
                    f"the checkpoint for seqs {self.next_seq}..{after} does not follow from "
                    f"seq {self.next_seq - 1}",
                )
            if self.archives:
                problem = archive_problem(
                    self.checked_archives, archived_to, self.next_seq, after, hash_, prev, sha
                )
                if problem is not None:
                    raise BrokenLinkError(self.next_seq, "archive", problem)
            self.archived += after - self.next_seq + 1
            self.checkpoints += 1
            self.prev, self.next_seq = hash_, after + 1
        if self.gaps and until is None:
            first = min(self.gaps)
            raise BrokenLinkError(
                first, "checkpoint", f"a checkpoint covers seqs from {first} that overlap events"
            )

    def report(self, path: str, broken: BrokenLink | None) -> ChainReport:
        """The report of the walk so far, ended at `broken` (None: the chain holds)."""
        return ChainReport(
            path=path,
            events=self.events,
            archived=self.archived,
            checkpoints=self.checkpoints,
            head_seq=self.next_seq - 1,
            head_hash=self.prev.hex(),
            broken=broken,
        )
