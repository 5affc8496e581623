"""Files the event log creates hold every spec with its passwords: only their owner reads them.

SQLite gives a log's `-wal` and `-shm` files the permissions of the database file itself, so
creating the database file 0600 before SQLite opens it covers all three; the directories the
project creates are 0700. A log that already exists is left as it is (its owner chose its
mode), but one that others can read is named in a warning with the `chmod` that fixes it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "create_private", "make_private_dir", "shared_warning"]

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def make_private_dir(directory: str | Path) -> None:
    """`mkdir -p` whose new directories are 0700 (existing ones are left alone)."""
    Path(directory).mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)


def create_private(path: str | Path) -> bool:
    """Create `path` empty and 0600 if it does not exist (and its missing parents 0700).

    Returns whether it was created here. The mode is given at creation, not set afterwards,
    so there is no moment when others could open it.
    """
    target = Path(path)
    make_private_dir(target.parent)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def shared_warning(path: str | Path) -> str | None:
    """Why `path` is readable by others, with the command that fixes it; None when private
    (or missing)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(mode) or not mode & 0o077:
        return None
    return (
        f"{path} is readable by others (mode {stat.S_IMODE(mode):04o}) and holds specs with "
        f"their passwords; run: chmod 600 '{path}'*"
    )
