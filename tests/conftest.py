"""Shared fixtures: the Overlord simulator behind a real HTTP server, a client pointed at it,
a file-backed event log, and a leak guard that fails any test leaving asyncio tasks behind.

`--overlord URL` points the contract suite at a real Overlord instead of the simulator.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, settings

from eventlog.postgres import PostgresEventLog
from eventlog.sqlite.store import SQLiteEventLog
from overlord.client import HttpOverlord, RequestRetryPolicy
from overlord.sim.server import SimConfig, Simulator
from tests import pg_support
from tests.service.processes import kill_leftover_daemons

PRIVATE_PG = pytest.StashKey[Path]()

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test() -> Iterator[None]:
    """A test that fails with a daemon running leaves it to hold a port, a log and a CPU
    through the rest of the run; end it with the test."""
    yield
    kill_leftover_daemons()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--overlord",
        default=None,
        help="run the Overlord contract tests against this URL instead of the simulator",
    )


def pytest_configure(config: pytest.Config) -> None:
    # The controller names the folder of a private PostgreSQL before the xdist workers
    # start, so they inherit it and share one cluster (tests/pg_support.py).
    if not hasattr(config, "workerinput") and pg_support.PRIVATE_DIR_ENV not in os.environ:
        folder = pg_support.new_private_dir()
        os.environ[pg_support.PRIVATE_DIR_ENV] = str(folder)
        config.stash[PRIVATE_PG] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(PRIVATE_PG, None)
    if folder is not None:
        pg_support.stop_private(folder)
        os.environ.pop(pg_support.PRIVATE_DIR_ENV, None)


@pytest.fixture
def simulator() -> Simulator:
    return Simulator(SimConfig())


@pytest.fixture
async def sim_server(simulator: Simulator) -> AsyncIterator[TestServer]:
    server = TestServer(simulator.app())
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def overlord(sim_server: TestServer) -> AsyncIterator[HttpOverlord]:
    client = HttpOverlord(
        str(sim_server.make_url("")).rstrip("/"),
        retry=RequestRetryPolicy(attempts=3, base_s=0.01, cap_s=0.05),
    )
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(params=["process", "thread"])
async def event_log(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[SQLiteEventLog]:
    """An open log, once with each kind of writer: both must keep the same contract."""
    log = await SQLiteEventLog.open(tmp_path / "events.db", writer=request.param)
    try:
        yield log
    finally:
        await log.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test run's own (tests/pg_support.py), dropped after."""
    with pg_support.database() as url:
        yield url


@pytest.fixture
async def pg_event_log(pg_url: str) -> AsyncIterator[PostgresEventLog]:
    """An open log on PostgreSQL, in a schema emptied for the test."""
    await pg_support.fresh_schema(pg_url)
    log = await PostgresEventLog.open(pg_url)
    try:
        yield log
    finally:
        await log.close()


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks (actors, pollers, writers) running."""
    before = set(asyncio.all_tasks())
    yield
    # Give cancelled tasks one loop turn to finish unwinding.
    await asyncio.sleep(0)
    leaked = [
        t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()
    ]
    if leaked:
        for task in leaked:
            task.cancel()
        names = ", ".join(sorted(t.get_name() for t in leaked))
        pytest.fail(f"test leaked {len(leaked)} running asyncio task(s): {names}")


@pytest.fixture
async def url(sim: Simulator) -> AsyncIterator[str]:
    """`sim` served over real HTTP on a free port; a module that uses this defines `sim`."""
    server = TestServer(sim.app())
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
