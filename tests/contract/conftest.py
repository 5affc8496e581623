"""Fixtures of the contract suite.

By default every contract test runs the real client against the simulator served over HTTP.
With `pytest --overlord URL` the same tests run against that Overlord instead (user info in
the URL becomes basic auth; `DRUID_COORDINATOR_URL` points coverage tests at a Coordinator).
Tests that need the simulator's control surface (faults, clock-free setups, versions) skip
there, and if the Overlord does not answer its health check the whole suite skips.

Against a real cluster the suite submits short `noop` tasks to the datasource
`druid_orch_contract`; nothing else is written.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp.test_utils import TestServer

from overlord.auth import AuthHook
from overlord.client import HttpOverlord, RequestRetryPolicy
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from overlord.transport import split_credentials

from .support import ReplayServer

FAST = RequestRetryPolicy(attempts=3, base_s=0.01, cap_s=0.05)
CONTRACT_DATASOURCE = "druid_orch_contract"


def noop(task_id: str | None = None, *, run_ms: int = 50, **extra: Any) -> dict[str, Any]:
    """A `noop` task: harmless on a real cluster, and the simulator honours `runTime`."""
    spec: dict[str, Any] = {"type": "noop", "dataSource": CONTRACT_DATASOURCE, "runTime": run_ms}
    if task_id is not None:
        spec["id"] = task_id
    spec.update(extra)
    return spec


def unique_id(label: str) -> str:
    return f"{CONTRACT_DATASOURCE}_{label}_{uuid.uuid4().hex[:10]}"


def fast_cluster(**overrides: Any) -> ClusterConfig:
    """A simulated cluster whose tasks take tens of milliseconds."""
    settings: dict[str, Any] = {
        "seed": 5,
        "min_duration_s": 0.05,
        "max_duration_s": 0.15,
        "lock_delay_s": 0.005,
    }
    settings.update(overrides)
    return ClusterConfig(**settings)


class Raw(msgspec.Struct):
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


@dataclass
class Target:
    """The Overlord under test: the simulator (with `sim`) or a real one (`sim` is None)."""

    url: str
    sim: Simulator | None
    session: aiohttp.ClientSession
    auth: AuthHook | None = None
    coordinator_url: str | None = None
    clients: list[HttpOverlord] = field(default_factory=list)

    @property
    def real(self) -> bool:
        return self.sim is None

    @property
    def wait_s(self) -> float:
        """How long a task may take to finish here."""
        return 120.0 if self.real else 5.0

    def need_sim(self) -> Simulator:
        if self.sim is None:
            pytest.skip("needs the simulator's control surface")
        return self.sim

    def client(self, **options: Any) -> HttpOverlord:
        options.setdefault("retry", FAST)
        options.setdefault("timeout_s", 30.0 if self.real else 5.0)
        options.setdefault("coordinator_url", self.coordinator_url)
        options.setdefault("auth", self.auth)
        client = HttpOverlord(self.url, **options)
        self.clients.append(client)
        return client

    async def raw(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        redirects: bool = False,
        base: str | None = None,
        skip_auto_headers: tuple[str, ...] = (),
    ) -> Raw:
        """One HTTP request without the client: what exactly comes back.

        `skip_auto_headers=("Accept",)` sends no `Accept` at all (aiohttp adds `*/*`)."""
        headers = dict(headers or {})
        if body is not None:
            data = msgspec.json.encode(body)
            headers.setdefault("Content-Type", "application/json")
        url = (base or self.url) + path
        if self.auth is not None and "Authorization" not in headers:
            await self.auth(method, url, headers)
        async with self.session.request(
            method,
            url,
            data=data,
            headers=headers,
            allow_redirects=redirects,
            skip_auto_headers=skip_auto_headers,
        ) as response:
            return Raw(
                status=response.status,
                content_type=response.headers.get("Content-Type", ""),
                body=await response.read(),
                headers=dict(response.headers),
            )

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


MakeTarget = Callable[..., Awaitable[Target]]


@pytest.fixture
async def make_target(request: pytest.FixtureRequest) -> AsyncIterator[MakeTarget]:
    """`await make_target(SimConfig(...))` serves a fresh simulator for one test.

    Against a real Overlord (`--overlord`) it skips, because the test needs a simulator of
    its own, unless the test says `portable=True` (then it gets the real Overlord).
    """
    real_url = request.config.getoption("--overlord")
    servers: list[TestServer] = []
    targets: list[Target] = []
    session = aiohttp.ClientSession()

    async def make(
        config: SimConfig | None = None, *, peer: Simulator | None = None, portable: bool = False
    ) -> Target:
        if real_url:
            if not portable or config is not None or peer is not None:
                pytest.skip("needs a simulator of its own")
            url, auth = split_credentials(real_url)
            coordinator = os.environ.get("DRUID_COORDINATOR_URL")
            target = Target(url, None, session, auth, coordinator_url=coordinator)
            targets.append(target)
            try:
                await target.client(retry=RequestRetryPolicy(attempts=1), timeout_s=10).health()
            except Exception as exc:  # any failure: there is no usable Overlord there
                pytest.skip(f"no Overlord answers at {url}: {exc}")
            return target
        sim = Simulator(config or SimConfig(cluster=fast_cluster()), peer=peer)
        server = TestServer(sim.app())
        await server.start_server()
        servers.append(server)
        target = Target(str(server.make_url("")).rstrip("/"), sim, session)
        targets.append(target)
        return target

    try:
        yield make
    finally:
        for target in targets:
            await target.close()
        for server in servers:
            await server.close()
        await session.close()


@pytest.fixture
async def target(make_target: MakeTarget) -> Target:
    """The Overlord under test: a fresh simulator, or the real one given with --overlord."""
    return await make_target(portable=True)


@pytest.fixture
async def replay_client(
    replay: tuple[ReplayServer, str],
) -> AsyncIterator[tuple[ReplayServer, HttpOverlord]]:
    """The client pointed at a replay server (short timeout, fast retries)."""
    canned, url = replay
    client = HttpOverlord(url, retry=FAST, timeout_s=2.0)
    try:
        yield canned, client
    finally:
        await client.close()


@pytest.fixture
async def replay() -> AsyncIterator[tuple[ReplayServer, str]]:
    """A server that answers with canned bodies, and its base URL."""
    canned = ReplayServer()
    server = TestServer(canned.app())
    await server.start_server()
    try:
        yield canned, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
