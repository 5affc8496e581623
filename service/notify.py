"""systemd's notification protocol (`sd_notify`), the few lines of it a `Type=notify` unit
needs: one datagram per message to the unix socket named by `NOTIFY_SOCKET`.

    READY=1      boot reconciliation is done: systemd now counts the unit as started
    STOPPING=1   a signal asked us to drain
    WATCHDOG=1   every half of `WATCHDOG_USEC` (set when the unit has `WatchdogSec=`), from
                 the event loop itself, so a loop that hangs stops the pings and systemd
                 restarts the daemon

Without `NOTIFY_SOCKET` every call does nothing. A send that fails is logged once and
otherwise ignored: the daemon serves the same with or without a service manager listening.
Our own few lines rather than a library: the protocol is one `sendto`, and the libraries
either wrap libsystemd (a C build) or are unmaintained.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping

import structlog

logger = structlog.get_logger("druid_orch.notify")


class SystemdNotifier:
    """Sends notifications to `address` (None: not run by systemd, nothing is sent)."""

    def __init__(self, address: str | None, watchdog_s: float | None = None) -> None:
        # "@name" is a socket in the abstract namespace, which Python spells with a NUL.
        self.address = "\0" + address[1:] if address and address.startswith("@") else address
        self.watchdog_s = watchdog_s
        self._warned = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SystemdNotifier:
        address = env.get("NOTIFY_SOCKET") or None
        watchdog_s: float | None = None
        pid = env.get("WATCHDOG_PID")
        # WATCHDOG_PID names the process systemd watches: a child of ours must not ping.
        if pid is None or pid == str(os.getpid()):
            try:
                usec = int(env.get("WATCHDOG_USEC", "0"))
            except ValueError:
                usec = 0
            watchdog_s = usec / 1_000_000 if usec > 0 else None
        return cls(address, watchdog_s)

    def send(self, *fields: str) -> bool:
        """One message of `KEY=value` fields; True if it was sent."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(fields).encode(), self.address)
            return True
        except OSError as exc:
            if not self._warned:
                self._warned = True
                logger.warning("sd_notify_failed", error=str(exc))
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self) -> bool:
        return self.send("STOPPING=1", "STATUS=draining")

    def start_watchdog(self) -> asyncio.Task[None] | None:
        """Ping the watchdog from now on, if the unit asked for one (cancel the task to stop)."""
        if self.address is None or self.watchdog_s is None:
            return None
        return asyncio.get_running_loop().create_task(self._pings(self.watchdog_s / 2))

    async def _pings(self, every_s: float) -> None:
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(every_s)
