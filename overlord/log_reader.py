"""Task logs: byte offsets, tails, and a stream that follows a growing log.

Druid's `offset` is a byte offset (REFERENCE §4.7): positive skips that many bytes, negative
keeps only the last |offset| bytes. `follow_log` polls with the offset it has reached and
decodes UTF-8 incrementally, so a character split across two reads is never mangled.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncIterator

from overlord import endpoints as ep
from overlord.models import TaskStatusResponse
from overlord.transport import Caller, decode, unexpected

_NO_LOG = b"No log was found for this task"


class LogReader(Caller):
    async def log_bytes(
        self, task_id: str, offset: int = 0, *, timeout_s: float | None = None
    ) -> bytes | None:
        """`GET /task/{id}/log?offset=N` as bytes; None when the task has no log (yet).

        Raises:
            TaskNotFoundError: the Overlord has no such task.
        """
        path = ep.LOG.path(task_id=task_id)
        reply = await self._transport.call(
            ep.LOG,
            path,
            params={"offset": str(offset)},
            accept=(404,),
            timeout_s=timeout_s,
            task_id=task_id,
        )
        if reply.status != 404:
            return reply.body
        if reply.body.startswith(_NO_LOG):
            return None
        raise unexpected(reply, ep.LOG, path, task_id=task_id)

    async def log(
        self, task_id: str, offset: int = 0, *, timeout_s: float | None = None
    ) -> str | None:
        """The log from a byte offset (negative: the last |offset| bytes) as text."""
        data = await self.log_bytes(task_id, offset, timeout_s=timeout_s)
        if data is None:
            return None
        if offset < 0:
            data = _from_char_start(data)
        return data.decode("utf-8", errors="replace")

    async def follow_log(
        self, task_id: str, *, start: int = 0, poll_s: float = 2.0
    ) -> AsyncIterator[str]:
        """Yield new log text as the task writes it, until it has finished and is drained.

        Args:
            start: a byte offset to start from; negative starts with the last |start| bytes
                (this reads the whole log once, since Druid does not say how long it is).
            poll_s: the pause between polls while the task runs and the log has not grown.
        """
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        offset = start
        if start < 0:
            whole = await self.log_bytes(task_id, 0) or b""
            offset = len(whole)
            text = decoder.decode(_from_char_start(whole[start:]))
            if text:
                yield text
        while True:
            data = await self.log_bytes(task_id, offset)
            if data:
                offset += len(data)
                text = decoder.decode(data)
                if text:
                    yield text
                continue
            if not await self._running(task_id):
                # The task may have written its last lines between our read and the status.
                data = await self.log_bytes(task_id, offset) or b""
                text = decoder.decode(data, final=True)
                if text:
                    yield text
                return
            await asyncio.sleep(poll_s)

    async def _running(self, task_id: str) -> bool:
        reply = await self._transport.call(
            ep.STATUS, ep.STATUS.path(task_id=task_id), task_id=task_id
        )
        status = decode(reply, TaskStatusResponse, ep.STATUS).status
        return status is not None and status.status_code == "RUNNING"


def _from_char_start(data: bytes) -> bytes:
    """Drop UTF-8 continuation bytes at the start of a tail cut in mid-character."""
    skip = 0
    while skip < min(3, len(data)) and data[skip] & 0xC0 == 0x80:
        skip += 1
    return data[skip:]
