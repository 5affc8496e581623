"""Starting, talking to and stopping the writer (`eventlog.writer_process.serve`).

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
from pathlib import Path
from typing import Literal

import msgspec

from eventlog.errors import EventLogClosedError, EventLogUnavailableError
from eventlog.protocol import (
    HEADER,
    MAX_FRAME,
    Outcomes,
    Request,
    frame,
    outcomes_decoder,
    request_encoder,
)

WriterMode = Literal["process", "thread"]
_STOP_TIMEOUT_S = 30.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class WriterLink:
    """One writer at the far end of a socket: frames out, `Outcomes` in."""

    def __init__(
        self,
        path: str,
        mode: WriterMode,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        process: subprocess.Popen[bytes] | None,
        thread: threading.Thread | None,
    ) -> None:
        self.path = path
        self.mode = mode
        self._reader = reader
        self._writer = writer
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
                from eventlog.writer_process import serve_and_close

                thread = threading.Thread(
                    target=serve_and_close, args=(theirs,), name="eventlog-writer", daemon=True
                )
                thread.start()
            reader, writer = await asyncio.open_unix_connection(sock=ours)
        except BaseException:
            ours.close()
            theirs.close()
            raise
        if process is not None:
            theirs.close()  # the child has its own copy
        return cls(path, mode, reader, writer, process, thread)

    @property
    def alive(self) -> bool:
        """Not known to be gone (a writer killed a moment ago may not show yet)."""
        return not self._writer.is_closing()

    def send(self, request: Request) -> None:
        if self._writer.is_closing():
            raise EventLogClosedError(f"the writer of {self.path} has stopped")
        self._writer.write(frame(request_encoder.encode(request)))

    async def receive(self) -> Outcomes:
        """The next answer.

        Raises:
            asyncio.IncompleteReadError, ConnectionError: the writer has gone.
            ValueError: the answer is garbled.
        """
        (size,) = HEADER.unpack(await self._reader.readexactly(HEADER.size))
        if size > MAX_FRAME:
            raise ValueError(f"garbled answer from the writer of {self.path}: {size} bytes")
        body = await self._reader.readexactly(size)
        try:
            return outcomes_decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise ValueError(f"garbled answer from the writer of {self.path}: {exc}") from exc

    async def stop(self) -> None:
        """Close this end (the writer finishes what it has read, then stops) and wait for it."""
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
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
            [sys.executable, "-m", "eventlog.writer_process", str(fd), str(os.getpid())],
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
