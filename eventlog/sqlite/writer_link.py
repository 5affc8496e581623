"""Starting, talking to and stopping the writer (`eventlog.sqlite.writer_process.serve`).

The writer runs in a child process (the default) or on a thread of this process; either
way it sits at the far end of a socket pair, and this side sees only frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Literal, cast

import msgspec

from eventlog.errors import EventLogClosedError, EventLogUnavailableError
from eventlog.sqlite.writer_frames import (
    Outcomes,
    Request,
    encode_frame,
    outcomes_decoder,
    take_frames,
)
from eventlog.sqlite.writer_process import serve_and_close

WriterMode = Literal["process", "thread"]
_STOP_TIMEOUT_S = 30.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


AnswerHandler = Callable[[Outcomes], None]
LossHandler = Callable[[BaseException], None]


class _Answers(asyncio.Protocol):
    """Splits the writer's byte stream into `Outcomes`, and hands each on as it arrives.

    Until `listen` is called, answers queue for `WriterLink.receive` (the `Open`
    handshake); after it, they go straight to the handler from the loop's I/O callback,
    with no task in between to wake.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.queued: deque[Outcomes | BaseException] = deque()
        self.arrived: asyncio.Future[None] | None = None
        self.on_answer: AnswerHandler | None = None
        self.on_lost: LossHandler | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.failure: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            for body in take_frames(self.buffer):
                try:
                    answer = outcomes_decoder.decode(body)
                except msgspec.DecodeError as exc:
                    raise ValueError(f"garbled answer from the writer of {self.path}") from exc
                if self.on_answer is not None:
                    self.on_answer(answer)
                else:
                    self._queue(answer)
        except ValueError as exc:  # garbled, or more answers than questions: stop listening
            self.failure = exc
            assert self.transport is not None
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self.failure or exc or ConnectionResetError("the writer closed its socket")
        if not self.closed.done():
            self.closed.set_result(None)
        if self.on_lost is not None:
            self.on_lost(reason)
        else:
            self._queue(reason)

    def _queue(self, item: Outcomes | BaseException) -> None:
        self.queued.append(item)
        if self.arrived is not None and not self.arrived.done():
            self.arrived.set_result(None)


class WriterLink:
    """One writer at the far end of a socket: frames out, `Outcomes` in."""

    def __init__(
        self,
        path: str,
        mode: WriterMode,
        transport: asyncio.Transport,
        answers: _Answers,
        process: subprocess.Popen[bytes] | None,
        thread: threading.Thread | None,
    ) -> None:
        self.path = path
        self.mode = mode
        self._transport = transport
        self._answers = answers
        self.process = process
        self._thread = thread

    @classmethod
    async def start(cls, path: str, mode: WriterMode) -> WriterLink:
        """Start a writer and connect to it (it opens nothing until it is sent `Open`).

        Raises:
            EventLogUnavailableError: the writer process could not be started.
        """
        ours, theirs = socket.socketpair()
        process: subprocess.Popen[bytes] | None = None
        thread: threading.Thread | None = None
        try:
            if mode == "process":
                # From the loop's own thread, not an executor's: Linux kills the child when
                # the thread that started it ends (PR_SET_PDEATHSIG), and the loop's thread
                # outlives the log.
                process = _spawn(theirs, path)
            else:
                thread = threading.Thread(
                    target=serve_and_close, args=(theirs,), name="eventlog-writer", daemon=True
                )
                thread.start()
            loop = asyncio.get_running_loop()
            transport, answers = await loop.create_unix_connection(
                lambda: _Answers(path), sock=ours
            )
        except BaseException:
            ours.close()
            theirs.close()
            raise
        if process is not None:
            theirs.close()  # the child has its own copy
        return cls(path, mode, transport, answers, process, thread)

    @property
    def alive(self) -> bool:
        """Not known to be gone (a writer killed a moment ago may not show yet)."""
        return not self._transport.is_closing()

    def send(self, request: Request) -> None:
        if self._transport.is_closing():
            raise EventLogClosedError(f"the writer of {self.path} has stopped")
        self._transport.write(encode_frame(request))

    async def receive(self) -> Outcomes:
        """The next answer, before `listen` is called.

        Raises:
            ConnectionError: the writer has gone.
            ValueError: the answer is garbled.
        """
        answers = self._answers
        while not answers.queued:
            answers.arrived = asyncio.get_running_loop().create_future()
            await answers.arrived
        item = answers.queued.popleft()
        if isinstance(item, BaseException):
            raise item
        return item

    def listen(self, on_answer: AnswerHandler, on_lost: LossHandler) -> None:
        """From now on, hand each answer to `on_answer` as it arrives, and the reason the
        writer is gone (`ConnectionError`, or `ValueError` for a garbled answer, or one
        `on_answer` refused) to `on_lost`."""
        answers = self._answers
        assert not answers.queued, "answers arrived that nobody asked for"
        answers.on_answer, answers.on_lost = on_answer, on_lost

    async def stop(self) -> None:
        """Close this end (the writer finishes what it has read, then stops) and wait for it."""
        self._answers.on_lost = None  # a stop is not a loss
        self._transport.close()
        await self._answers.closed
        loop = asyncio.get_running_loop()
        if self.process is not None:
            try:
                await loop.run_in_executor(None, self.process.wait, _STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await loop.run_in_executor(None, self.process.wait)
        elif self._thread is not None:
            await loop.run_in_executor(None, self._thread.join, _STOP_TIMEOUT_S)

    async def describe_exit(self) -> str:
        """How the writer ended, for an error message (given a moment to be reaped)."""
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.get_running_loop().run_in_executor(None, self.process.wait, 2.0)
        if self.process is None:
            return "its thread ended"
        code = self.process.poll()
        if code is None:
            return f"process {self.process.pid} closed its socket"
        if code < 0:
            return f"process {self.process.pid} was killed by signal {-code}"
        return f"process {self.process.pid} exited with code {code}"


def _spawn(sock: socket.socket, path: str) -> subprocess.Popen[bytes]:
    if not sys.executable:
        raise EventLogUnavailableError(
            f"cannot start the writer process of {path}: this interpreter does not know its "
            'own executable (sys.executable is empty); open the log with writer="thread"'
        )
    env = dict(os.environ)
    # The child must import this very copy of the package, wherever it was imported from.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
    fd = sock.fileno()
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "eventlog.sqlite.writer_process", str(fd), str(os.getpid())],
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=env,
        )
    except OSError as exc:
        raise EventLogUnavailableError(
            f"cannot start the writer process of {path}: {exc}; open the log with "
            'writer="thread" where processes cannot be started'
        ) from exc
