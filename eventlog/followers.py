"""Waiting for commits, as both backends' readers do: `subscribe` and the change feed's
long poll (`summary_changes`).

Each reads, then waits for the next commit. The waiter is taken *before* the read, so a
commit that lands between the read and the wait still wakes it: the log calls
`_notify_committed` after each commit (and, on PostgreSQL, at each NOTIFY of another
process's), which wakes every current waiter and puts a fresh event in its place.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

from eventlog.errors import EventLogClosedError, EventLogUnavailableError
from eventlog.records import Recorded
from eventlog.summaries import DEFAULT_PAGE, Changes


class Followable:
    """The part of a backend's `LogReader` that followers wait on."""

    # How long a follower pauses after the log was unavailable before it reads on from where
    # it was; None: the error reaches the follower.
    OUTAGE_PAUSE_S: ClassVar[float | None] = None

    def __init__(self) -> None:
        self._committed = asyncio.Event()

    def _notify_committed(self) -> None:
        self._committed.set()
        self._committed = asyncio.Event()

    def _writer_alive(self) -> bool:
        """Whether commits may still come; once not, followers end."""
        raise NotImplementedError

    def read_all(self, after_seq: int = 0, *, chunk: int = 1000) -> AsyncIterator[Recorded]:
        raise NotImplementedError

    async def _changes_after(self, after: int, limit: int) -> Changes:
        """One read of the summaries changed after log position `after`, oldest first."""
        raise NotImplementedError

    async def subscribe(self, after_seq: int = 0, *, chunk: int = 1000) -> AsyncIterator[Recorded]:
        """Like `read_all`, then follows new events as they commit; ends when the log closes."""
        last = after_seq
        while True:
            waiter = self._committed
            try:
                async for recorded in self.read_all(last, chunk=chunk):
                    last = recorded.seq
                    yield recorded
            except EventLogClosedError:
                return
            except EventLogUnavailableError:
                if self.OUTAGE_PAUSE_S is None:
                    raise
                await asyncio.sleep(self.OUTAGE_PAUSE_S)
                continue
            if not self._writer_alive():
                return
            await waiter.wait()

    async def summary_changes(
        self, after: int, *, limit: int = DEFAULT_PAGE, wait_s: float = 0.0
    ) -> Changes:
        """Summaries changed after log position `after`, oldest first; with nothing changed,
        waits up to `wait_s` for a commit that changes one (a long poll)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            waiter = self._committed
            found = await self._changes_after(after, limit)
            left = deadline - loop.time()
            if found.jobs or left <= 0 or not self._writer_alive():
                return found
            try:
                await asyncio.wait_for(waiter.wait(), left)
            except TimeoutError:
                return found
