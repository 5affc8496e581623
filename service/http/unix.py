"""The control API's Unix socket: for local tools, readable and writable by its owner only."""

from __future__ import annotations

import contextlib
import os
import socket
import stat

from aiohttp import web

from actors.errors import ConfigError

__all__ = ["unix_site"]


def unix_site(runner: web.AppRunner, path: str) -> web.SockSite:
    """A site on a new socket at `path`, mode 0600, replacing a stale socket left there.

    The socket is bound under umask 0177 rather than chmod-ed afterwards, so there is no
    moment when another user could connect.

    Raises:
        ConfigError: `path` exists and is not a socket, or cannot be bound (names the key).
    """
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise ConfigError(f"api.unix_socket: {path} exists and is not a socket")
        # A socket file outlives the process that bound it, so one found here is taken as
        # stale: give two daemons two paths.
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"api.unix_socket: cannot bind {path}: {exc.strerror or exc}") from exc
    finally:
        os.umask(old)
    return web.SockSite(runner, sock)
