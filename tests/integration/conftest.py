"""Fixtures for integration tests. A module that uses `url` defines its own `sim` fixture
(the simulated cluster it needs); `url` serves it over real HTTP on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from overlord.simulator import Simulator


@pytest.fixture
async def url(sim: Simulator) -> AsyncIterator[str]:
    server = TestServer(sim.app())
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
