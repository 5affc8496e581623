"""Helpers for the product-surface tests (no tests here): a fast simulator on a real port,
the CLI and the daemon as subprocesses, and a fast configuration file.

Subprocesses run `python -m service.cli.main` from the directory that holds the `actors` package
being tested, with every `DRUID_ORCH_*` variable removed from their environment so a
developer's shell cannot change a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import actors
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator, serve

ROOT = Path(actors.__file__).resolve().parent.parent
PASSWORD = "pw-Zq8v-never-printed"

FAST_ORCHESTRATOR = """
[orchestrator.poller]
first_delay_s = 0.1
ceiling_s = 0.3
phase_refresh_s = 0.3
[orchestrator.job]
report_retry_s = 0.05
[orchestrator.job.retry]
base_s = 0.1
cap_s = 0.3
[orchestrator.job.submit_retry]
base_s = 0.1
cap_s = 0.5
"""


def fast_config(
    overlord: str, db: Path, *, port: int = 0, overlord_extra: str = "", api_extra: str = ""
) -> str:
    """A daemon configuration with the demo's fast timings, JSON logs at debug level."""
    return (
        f'[overlord]\nurl = "{overlord}"\n{overlord_extra}\n[eventlog]\ndb = "{db}"\n'
        f"[api]\nport = {port}\n{api_extra}\n"
        '[logging]\nlevel = "debug"\nformat = "json"\n'
        f"[daemon]\nshutdown_timeout_s = 30\n{FAST_ORCHESTRATOR}"
    )


def simulator(
    *,
    seed: int = 1,
    scripted: dict[str, list[str]] | None = None,
    min_s: float = 0.2,
    max_s: float = 0.5,
    users: dict[str, str] | None = None,
) -> Simulator:
    cluster = ClusterConfig(
        seed=seed,
        workers=2,
        capacity_per_worker=4,
        min_duration_s=min_s,
        max_duration_s=max_s,
        scripted=scripted or {},
    )
    return Simulator(SimConfig(cluster=cluster, users=users or {}))


@contextlib.asynccontextmanager
async def running(sim: Simulator) -> AsyncIterator[str]:
    """Serve `sim` on a free loopback port; yields its URL."""
    runner = await serve(sim, "127.0.0.1", 0)
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def eventually(predicate: Callable[[], bool], timeout: float = 10) -> None:
    """Wait until `predicate()` holds (for state in another process or the simulator)."""
    async with asyncio.timeout(timeout):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.02)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRUID_ORCH_")}
    env.update(extra)
    return env


@dataclass
class Result:
    code: int
    out: str
    err: str


async def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    """Run `druid-orch ARGS` to completion without blocking the event loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service.cli.main",
        *args,
        cwd=ROOT,
        env=env or clean_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


# Daemons started and not yet seen to exit: a test that fails half-way leaves its daemon
# running (holding its port, its log, a CPU) unless `kill_leftover_daemons` ends it.
_STARTED: set[DaemonProcess] = set()


def kill_leftover_daemons() -> int:
    """SIGKILL every daemon a test started and left running; how many there were."""
    killed = 0
    for daemon in list(_STARTED):
        if daemon.proc is not None and daemon.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(daemon.proc.pid, signal.SIGKILL)
                killed += 1
    _STARTED.clear()
    return killed


class DaemonProcess:
    """`druid-orch run --config FILE` as a subprocess, with its stdout lines collected."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = env or clean_env()
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.url = ""

    async def start(self, *, until: str = "ready", timeout: float = 20) -> DaemonProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "service.cli.main",
            "run",
            "--config",
            str(self.config),
            cwd=ROOT,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _STARTED.add(self)
        await self.read_until(until, timeout)
        for line in self.lines:
            if "control API listening on " in line:
                self.url = line.rsplit(" ", 1)[-1]
        return self

    async def read_until(self, text: str, timeout: float = 20) -> str:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"daemon ended before printing {text!r}: {self.lines}")
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                if text in line:
                    return line

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def finish(self, timeout: float = 30) -> Result:
        """Wait for the exit; returns the exit code, all stdout and all stderr."""
        assert self.proc is not None
        try:
            out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise
        assert self.proc.returncode is not None
        return Result(self.proc.returncode, "\n".join(self.lines) + out.decode(), err.decode())

    async def stop(self) -> Result:
        if self.proc is not None and self.proc.returncode is None:
            self.signal(signal.SIGTERM)
        return await self.finish()
