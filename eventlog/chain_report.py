"""What a walk of the hash chain reports, in either backend (`verify` in
`eventlog.sqlite.verify` and `eventlog.postgres.verify`): the first broken link, if any,
and the head the walk reached.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from eventlog.chain import GENESIS_HASH
from eventlog.errors import CorruptEventError

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
