"""One orchestrator per event log: a second one, in this process or another, is refused
with a message naming the holder, and a holder that dies leaves the log free."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from actors.orchestrator import Orchestrator
from actors.ownership import LogInUseError, LogLockError, lock_path, owning
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from tests.service.processes import ROOT, cli
from tests.service.test_cli import PIPELINE, embedded
from tests.support import fast_config


@pytest.fixture
def sim() -> Simulator:
    return Simulator(SimConfig(cluster=ClusterConfig(seed=5, workers=2, capacity_per_worker=4)))


async def test_a_second_orchestrator_on_the_same_log_is_refused_until_the_first_closes(
    tmp_path: Path, url: str
) -> None:
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config()):
        with pytest.raises(
            LogInUseError, match=rf"in use by another orchestrator \(pid {os.getpid()} "
        ):
            async with Orchestrator.open(db, url, config=fast_config()):
                pass  # pragma: no cover - must not get here
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        assert orch.live_count() == 0  # the first one's close freed the log


async def holder(db: Path) -> asyncio.subprocess.Process:
    """Another process holding the log's lock, as a running orchestrator would."""
    code = (
        "import sys, time; from actors.ownership import owning\n"
        "with owning(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(db), cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), timeout=20) == b"held\n"
    return proc


async def test_a_log_held_by_another_process_is_refused_and_freed_when_it_dies(
    tmp_path: Path, url: str
) -> None:
    db = tmp_path / "log.db"
    proc = await holder(db)
    try:
        with pytest.raises(LogInUseError, match=rf"pid {proc.pid} "):
            async with Orchestrator.open(db, url, config=fast_config()):
                pass  # pragma: no cover - must not get here
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean exit: the kernel drops the lock
        await proc.wait()
    async with Orchestrator.open(db, url, config=fast_config()):
        holder_now = await asyncio.to_thread(Path(lock_path(db)).read_text)
        assert holder_now.startswith(f"pid {os.getpid()} ")


async def test_the_cli_refuses_to_run_embedded_beside_a_running_orchestrator(
    tmp_path: Path, url: str
) -> None:
    proc = await holder(tmp_path / "orch.db")
    try:
        args = ["submit", PIPELINE, "--interval", "2024-01-01/2024-01-02"]
        result = await cli(*args, *embedded(tmp_path, url))
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert result.code == 1, result.out + result.err
    assert "in use by another orchestrator" in result.err
    assert "--api" in result.err
    assert "Traceback" not in result.err


def test_a_symlink_to_a_held_log_is_refused_and_a_missing_directory_is_not_called_in_use(
    tmp_path: Path,
) -> None:
    real = tmp_path / "log.db"
    alias = tmp_path / "alias.db"
    alias.symlink_to(real)
    with owning(real), pytest.raises(LogInUseError), owning(alias):
        pass  # pragma: no cover - must not get here
    missing = tmp_path / "no-such-dir" / "log.db"
    with (
        pytest.raises(LogLockError, match="cannot create the lock file") as caught,
        owning(missing),
    ):
        pass  # pragma: no cover - must not get here
    assert not isinstance(caught.value, LogInUseError)
