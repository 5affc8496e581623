"""One orchestrator per event log: a lock file beside the log, held while it runs.

Two orchestrators on one log would each drive every job: both would decide, race on
stream versions, and each would show its own stale view. The event log itself takes
writes from several connections (it follows a moved head), so the guard belongs here, to
whoever decides. `flock` is released by the kernel when the holder dies, so a crashed
orchestrator never leaves a log locked; the file itself stays (removing it would race with
the next opener), like SQLite's `-wal` and `-shm` beside it. On NFS mounted without lock
support (`nolock`, `local_lock=flock`) flock only excludes processes of one host, as
SQLite's own locks do there; such a log should not be shared between hosts anyway.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from actors.errors import OrchestratorError


class LogLockError(OrchestratorError):
    """The event log's lock file cannot be created or locked (a missing or read-only
    directory, say); the message says which file and why."""


class LogInUseError(LogLockError):
    """Another orchestrator has this event log open."""


def lock_path(db: str | Path) -> str:
    # The file the path leads to: a symlink to the log must not get a lock of its own.
    return f"{os.path.realpath(db)}-lock"


@contextlib.contextmanager
def owning(db: str | Path) -> Iterator[None]:
    """Hold the log's lock for the duration, or raise LogInUseError at once."""
    path = lock_path(db)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise LogLockError(f"cannot create the lock file {path}: {exc.strerror}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise LogLockError(f"cannot lock {path}: {exc.strerror}") from exc
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise LogInUseError(
                f"the event log {db} is in use by another orchestrator ({holder}); "
                "talk to it through its control API (--api URL), or stop it first"
            ) from None
        # Who holds it, for the next one's message; the lock holds without it (a full disk).
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
