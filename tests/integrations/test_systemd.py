"""`Type=notify` as systemd runs it: the daemon under a fake `NOTIFY_SOCKET` (a datagram
socket this test binds) says READY=1 once boot reconciliation is done, pings WATCHDOG=1 when
`WATCHDOG_USEC` asks, and says STOPPING=1 when a signal starts the drain."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.notify import SystemdNotifier
from tests.service.processes import DaemonProcess, clean_env, fast_config, running, simulator


@pytest.fixture
def notify_socket() -> Iterator[socket.socket]:
    # The abstract namespace ("@name"): no path-length limit, nothing left on disk.
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(f"\0druid-orch-test-{os.getpid()}-{id(sock)}")
    sock.setblocking(False)
    yield sock
    sock.close()


async def receive(sock: socket.socket, wanted: str, seen: list[str], timeout: float = 20) -> None:
    """Read messages into `seen` until one holds the field `wanted`."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        while not any(wanted in message.split("\n") for message in seen):
            seen.append((await loop.sock_recv(sock, 4096)).decode())


async def test_the_daemon_notifies_ready_watchdog_and_stopping(
    tmp_path: Path, notify_socket: socket.socket
) -> None:
    name = "@" + notify_socket.getsockname()[1:].decode()
    async with running(simulator()) as overlord:
        config = tmp_path / "orch.toml"
        config.write_text(fast_config(overlord, tmp_path / "orch.db"))
        env = clean_env(NOTIFY_SOCKET=name, WATCHDOG_USEC="200000")
        daemon = DaemonProcess(config, env=env)
        await daemon.start()
        try:
            seen: list[str] = []
            await receive(notify_socket, "READY=1", seen)
            ready = next(m for m in seen if "READY=1" in m.split("\n"))
            assert "STATUS=ready: 0 live jobs" in ready
            assert "STOPPING=1" not in "\n".join(seen)
            await receive(notify_socket, "WATCHDOG=1", [])  # the pings go on after READY=1
            daemon.signal()
            await receive(notify_socket, "STOPPING=1", seen)
            result = await daemon.finish()
            assert result.code == 0, result.err[-2000:]
        finally:
            if daemon.proc is not None and daemon.proc.returncode is None:
                daemon.proc.kill()  # a failed check leaves no daemon behind
                await daemon.proc.wait()


def test_without_notify_socket_nothing_is_sent_and_an_unusable_one_is_not_fatal() -> None:
    assert SystemdNotifier.from_env({}).ready() is False
    assert SystemdNotifier.from_env({}).start_watchdog() is None
    gone = SystemdNotifier.from_env({"NOTIFY_SOCKET": "/nonexistent/notify.sock"})
    assert gone.ready() is False
    assert gone.stopping() is False


def test_the_watchdog_is_left_to_the_process_systemd_watches() -> None:
    mine = SystemdNotifier.from_env(
        {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    )
    assert mine.watchdog_s == 4.0
    other = SystemdNotifier.from_env(
        {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}
    )
    assert other.watchdog_s is None
    garbled = SystemdNotifier.from_env({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "x"})
    assert garbled.watchdog_s is None
