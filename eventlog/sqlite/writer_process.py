"""The writer: owns the write connection and group-commits what the event loop streams to it.

It runs in a child process of its own by default (`python -m eventlog.sqlite.writer_process FD`),
so that SQLite, hashing and numbering run beside the event loop rather than taking turns
with it at the GIL; `SQLiteEventLog(writer="thread")` runs the same `serve` on a thread instead.

The loop is the classic group commit: block until something arrives, take everything that
has arrived since (up to `max_batch` items), commit it as one transaction, answer, repeat.
While one batch commits, the next accumulates in the socket, so batches grow with load.
Control frames (`Sync`, `Reload`) end the batch before them and are answered in turn.

The writer stops when the loop side closes its end of the socket. As a child process it
also asks Linux to kill it when its parent dies (`PR_SET_PDEATHSIG`): an orchestrator
killed with SIGKILL must not leave a writer behind that commits appends nobody awaits
while a restarted orchestrator boots. It ignores SIGINT and SIGTERM, which a terminal or a
service manager sends to the whole process group: its parent decides when it stops, after
committing what was queued.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from collections import deque

from eventlog.errors import EventLogError
from eventlog.sqlite.writer import WriteConnection
from eventlog.sqlite.writer_frames import (
    Chunk,
    Open,
    Outcomes,
    Reload,
    Request,
    Sync,
    encode_frame,
    request_decoder,
    take_frames,
)
from eventlog.writes.items import Done, Failed, Item, Outcome, failed

_RECV = 1 << 20


class _Frames:
    """Requests read off the socket: blocks for the first, then takes what is already there."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.ready: deque[Request] = deque()
        self.eof = False

    def fill(self) -> None:
        """Wait for at least one whole request (or the end), then read all that has arrived."""
        while not self.ready and not self.eof:
            data = self.sock.recv(_RECV)
            if not data:
                self.eof = True
                break
            self.buffer += data
            with contextlib.suppress(BlockingIOError):
                while more := self.sock.recv(_RECV, socket.MSG_DONTWAIT):
                    self.buffer += more
            self._parse()

    def _parse(self) -> None:
        for body in take_frames(self.buffer):
            self.ready.append(request_decoder.decode(body))


def _send(sock: socket.socket, outcomes: list[Outcome]) -> None:
    sock.sendall(encode_frame(Outcomes(outcomes)))


def _batch(ready: deque[Request], max_batch: int) -> tuple[list[Item], float]:
    """Take the leading chunks' items, up to `max_batch` (a chunk is never split)."""
    items: list[Item] = []
    now = 0.0
    while ready and type(ready[0]) is Chunk:
        chunk = ready[0]
        assert type(chunk) is Chunk
        if items and len(items) + len(chunk.items) > max_batch:
            break
        ready.popleft()
        items.extend(chunk.items)
        now = max(now, chunk.now)
    return items, now


def serve(sock: socket.socket) -> None:
    """Answer `Open`, then commit batches until the other end closes the socket."""
    frames = _Frames(sock)
    frames.fill()
    if not frames.ready or type(frames.ready[0]) is not Open:
        return
    first = frames.ready.popleft()
    assert type(first) is Open
    core = WriteConnection(first.path, first.synchronous, first.max_size_bytes, first.page_size)
    try:
        core.open()
    except (EventLogError, OSError) as exc:
        _send(sock, [failed(exc)])
        return
    try:
        _send(sock, [Done()])
        ready = frames.ready
        while True:
            frames.fill()
            if not ready:
                return  # the loop side closed its end
            if type(ready[0]) is Chunk:
                items, now = _batch(ready, first.max_batch)
                try:
                    outcomes = core.commit(items, now)
                except Exception as exc:  # a bug rather than a refusal: fail this batch only
                    error = Failed(
                        "error",
                        f"the writer of {first.path} failed on a batch of {len(items)}: {exc!r}",
                    )
                    outcomes = [error] * len(items)
                _send(sock, outcomes)
                continue
            control = ready.popleft()
            if type(control) is Reload:
                try:
                    core.load_head()
                except EventLogError as exc:
                    _send(sock, [failed(exc)])
                    continue
            elif type(control) is not Sync:
                _send(sock, [Failed("error", f"unexpected request {type(control).__name__}")])
                continue
            _send(sock, [Done()])
    finally:
        core.close()


def serve_and_close(sock: socket.socket) -> None:
    """`serve`, then close the socket: the body of the writer's thread or process."""
    try:
        serve(sock)
    except ConnectionError:
        pass  # the loop side went away mid-answer; it has nobody left to tell
    finally:
        sock.close()


def _die_with_parent(parent: int) -> None:
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request above took effect
        os._exit(1)


def main(argv: list[str]) -> int:
    """`python -m eventlog.sqlite.writer_process FD PARENT_PID`: serve the inherited socket FD."""
    fd, parent = int(argv[0]), int(argv[1])
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve_and_close(socket.socket(fileno=fd))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
