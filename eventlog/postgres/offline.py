"""A log in PostgreSQL read by a command, event by event, as `eventlog.sqlite.offline` reads a
file: what `audit history`, `export` and `replay` walk (`actors.job.audit.recorded_events`).

The commands are synchronous and may run inside an event loop of their own (`status` does),
so the queries run on a loop on a thread of this reader's, a page at a time: an export of a
million events never holds more than a page in memory. The log is opened as any reader
opens it (the schema checked, `SchemaVersionError` from a newer orchestrator) and never
appended to.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from eventlog.decoding import decode_row
from eventlog.postgres.store import PostgresEventLog
from eventlog.records import Recorded

_T = TypeVar("_T")
PAGE = 1000


class _LoopThread:
    """An event loop running on a daemon thread, for blocking callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="pg-reader", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def records(
    url: str,
    *,
    password: str | None,
    after_seq: int = 0,
    since: float | None = None,
    stream_id: str | None = None,
    page: int = PAGE,
) -> Iterator[Recorded]:
    """Stored events of the log at `url` in global order, after `after_seq`, recorded at
    `since` or later, of one stream or all. The connections stay open until the generator
    is exhausted or closed.

    Raises:
        EventLogError: the database cannot be reached (`EventLogUnavailableError`), was
            written by a newer orchestrator, or holds a body that cannot be decoded
            (`CorruptEventError`, naming its seq); messages name the URL without its password.
    """
    runner = _LoopThread()
    log = PostgresEventLog(url, password=password, readers=1)
    try:
        runner.run(log.__aenter__())
        last = after_seq
        while True:
            rows = runner.run(log.event_rows(last, since=since, stream_id=stream_id, limit=page))
            for row in rows:
                yield decode_row(row)
            if len(rows) < page:
                return
            last = rows[-1][0]
    finally:
        # Closing a log whose server is gone fails too; the error that stopped the read is
        # the one to report.
        with contextlib.suppress(Exception):
            runner.run(log.close())
        runner.stop()
