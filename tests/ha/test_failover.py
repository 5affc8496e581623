"""Failover with real daemon processes on the real PostgreSQL, against `druid-orch sim`.

Three replicas share one log: one leads, two stand by. The leader is SIGKILLed while jobs
run; a standby must lead within the lease plus 2 s, every job must end as it should, the
simulator must see no duplicate submission and at most one live task per interval, and the
log must verify. A leader paused (SIGSTOP) past its lease must, once woken, record nothing
and send nothing to the Overlord, and come back as a standby. (The 300-job version and the
20-kill soak are `bench/pg_failover.py`.)
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from eventlog.postgres import PostgresEventLog
from overlord.sim.server import Simulator
from tests import pg_support
from tests.pg_cluster import PrivateCluster
from tests.service.processes import (
    FAST_ORCHESTRATOR,
    DaemonProcess,
    clean_env,
    cli,
    running,
    simulator,
)
from tests.service.test_daemon import TEMPLATE, get

LEASE_S = 2.0
TOKEN = "ha-test-token-4c1d"  # every replica's API token: the CLI must carry it to the leader
AUTH = {"Authorization": f"Bearer {TOKEN}"}
pytestmark = pytest.mark.slow


def replica_config(overlord: str, db_url: str, port: int) -> str:
    return (
        f'[overlord]\nurl = "{overlord}"\n'
        f'[eventlog]\nurl = "{db_url}"\nlease_s = {LEASE_S}\n'
        f'[api]\nport = {port}\nadvertise_url = "http://127.0.0.1:{port}"\n'
        f'token = "{TOKEN}"\n'
        '[logging]\nlevel = "warning"\nformat = "json"\n'
        f"[daemon]\nshutdown_timeout_s = 20\n{FAST_ORCHESTRATOR}"
        "[orchestrator.slots]\nenabled = false\n"
    )


def free_ports(count: int) -> list[int]:
    import socket

    found, socks = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        found.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return found


async def role(url: str) -> str | None:
    try:
        _, body = await get(url, "/readyz")
    except (aiohttp.ClientError, OSError):
        return None
    return body.get("role") if body.get("ready") else None


async def leader_of(replicas: list[DaemonProcess], timeout: float) -> DaemonProcess:
    async with asyncio.timeout(timeout):
        while True:
            for r in replicas:
                if (
                    r.proc is not None
                    and r.proc.returncode is None
                    and await role(r.url) == "leader"
                ):
                    return r
            await asyncio.sleep(0.05)


async def metrics(url: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url + "/metrics", headers=AUTH) as response,
    ):
        return await response.text()


async def raw(url: str, method: str, path: str) -> tuple[int, str | None, Any]:
    """One request, redirects not followed: status, Location, JSON body."""
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method,
            url + path,
            allow_redirects=False,
            json={} if method == "POST" else None,
            headers=AUTH,
        ) as response,
    ):
        return response.status, response.headers.get("Location"), await response.json()


async def submit_days(url: str, first_day: int, days: int) -> list[str]:
    intervals = [f"2024-03-{d:02d}/2024-03-{d + 1:02d}" for d in range(first_day, first_day + days)]
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url + "/v1/jobs", json={"template": TEMPLATE, "intervals": intervals}, headers=AUTH
        ) as response,
    ):
        assert response.status == 202, await response.text()
        return [j["job_id"] for j in (await response.json())["jobs"]]


async def all_terminal(url: str, count: int, timeout: float) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout):
        while True:
            _, body = await get(url, "/v1/jobs?limit=1000", TOKEN)
            jobs = body.get("jobs", [])
            if len(jobs) == count and all(j["terminal"] for j in jobs):
                return list(jobs)
            await asyncio.sleep(0.2)


@pytest.fixture
async def db_url() -> AsyncIterator[str]:
    async with pg_support.scratch_database() as url:
        yield url


async def start_replicas(tmp_path: Path, overlords: list[str], db_url: str) -> list[DaemonProcess]:
    replicas = []
    for i, (port, overlord) in enumerate(zip(free_ports(len(overlords)), overlords, strict=True)):
        config = tmp_path / f"r{i}.toml"
        config.write_text(replica_config(overlord, db_url, port))
        replicas.append(await DaemonProcess(config, env=clean_env()).start(until="listening"))
    return replicas


async def stop_all(replicas: list[DaemonProcess]) -> None:
    for r in replicas:
        if r.proc is not None and r.proc.returncode is None:
            r.proc.kill()
            await r.proc.wait()


async def no_job_twice_and_the_log_verifies(sim: Simulator, db_url: str) -> None:
    """What every failover must leave: no task submitted twice, never two live tasks for one
    interval, and a log whose chain verifies."""
    stats = sim.stats()
    assert stats["duplicate_submissions"] == 0
    assert stats["max_live_tasks_per_interval"] == 1
    async with PostgresEventLog(db_url) as log:
        report = await log.verify()
        assert report.ok, report.broken


async def test_a_standby_takes_over_from_a_killed_leader_and_every_job_ends_once(
    tmp_path: Path, db_url: str
) -> None:
    sim = simulator(min_s=0.5, max_s=1.5)
    async with running(sim) as overlord:
        replicas = await start_replicas(tmp_path, [overlord] * 3, db_url)
        try:
            leader = await leader_of(replicas, 20)
            others = [r for r in replicas if r is not leader]
            assert [await role(r.url) for r in others] == ["standby", "standby"]
            ids = await submit_days(leader.url, 1, 24)
            await asyncio.sleep(0.8)  # some submitted, some running, some waiting
            # A standby serves reads from the shared read model and sends writes on.
            read = await raw(others[0].url, "GET", "/v1/jobs?limit=1000")
            assert read[0] == 200
            assert len(read[2]["jobs"]) == 24
            assert (
                read[2]["jobs"] == (await get(leader.url, "/v1/jobs?limit=1000", TOKEN))[1]["jobs"]
            )
            moved = await raw(others[0].url, "POST", f"/v1/jobs/{ids[0]}/cancel")
            assert moved[0] == 307
            assert moved[1] == f"{leader.url}/v1/jobs/{ids[0]}/cancel"
            # The CLI, pointed at a standby, reaches the leader, body and all.
            # (A job that is not dead: the standby resolves its name, the leader refuses it.)
            sent = await cli(
                "retry", ids[0], "--api", others[0].url, env=clean_env(DRUID_ORCH_API_TOKEN=TOKEN)
            )
            assert sent.code == 1
            assert "HTTP 409: " in sent.err, f"not the leader's answer: {sent.err}"
            assert sim.stats()["submissions"] > 0
            leader.signal(signal.SIGKILL)
            killed = time.monotonic()
            await leader.proc.wait()  # type: ignore[union-attr]
            successor = await leader_of(others, LEASE_S + 15)
            took = time.monotonic() - killed
            # Ready means booted: lease wait (at most LEASE_S) + boot + reconcile.
            assert took < LEASE_S + 2 + 3, f"took {took:.1f} s to lead again"
            # A hot standby: it had folded the live jobs as the leader recorded them, and
            # replayed only the tail (docs/ha.md). How many were live at the kill depends on
            # the machine's speed; tests/actors/test_warm_boot.py counts what a boot reuses.
            warm = await successor.read_until("live jobs kept warm", 5)
            assert "events replayed in" in warm, warm
            jobs = await all_terminal(successor.url, len(ids), 60)
            assert {j["phase"] for j in jobs} == {"succeeded"}
            standby = next(r for r in others if r is not successor)
            assert await role(standby.url) == "standby"
            lines = (await metrics(successor.url)).splitlines()
            assert "druid_orch_leader_epoch 2.0" in lines
            assert any(
                line.startswith("druid_orch_leader{") and line.endswith(" 1.0") for line in lines
            )
            assert any(
                line.endswith(" 0.0")
                for line in (await metrics(standby.url)).splitlines()
                if line.startswith("druid_orch_leader{")
            )
            # A leader told to stop hands over (the lease released: tests/ha/test_fence.py).
            successor.signal(signal.SIGTERM)
            assert (await successor.finish()).code == 0
            await leader_of([standby], LEASE_S + 15)
        finally:
            await stop_all(replicas)
    await no_job_twice_and_the_log_verifies(sim, db_url)
    conn = await asyncpg.connect(db_url)
    try:
        assert await conn.fetchval("SELECT epoch FROM leadership") == 3
    finally:
        await conn.close()


class CountingProxy:
    """Forwards to the simulator and keeps every request it forwarded: one replica's view."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(f"{request.method} {request.path}")
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                request.method, self.target + request.path_qs, data=body, headers=headers
            ) as response,
        ):
            return web.Response(
                status=response.status,
                body=await response.read(),
                content_type=response.content_type,
            )


async def test_a_leader_paused_past_its_lease_sends_and_records_nothing_when_it_wakes(
    tmp_path: Path, db_url: str
) -> None:
    sim = simulator(min_s=0.5, max_s=1.0)
    async with running(sim) as overlord:
        proxy = CountingProxy(overlord)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", proxy.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        proxied = f"http://127.0.0.1:{runner.addresses[0][1]}"
        replicas: list[DaemonProcess] = []
        try:
            ports = free_ports(3)
            for i, target in enumerate([proxied, overlord, overlord]):
                config = tmp_path / f"r{i}.toml"
                config.write_text(replica_config(target, db_url, ports[i]))
                replicas.append(await DaemonProcess(config).start(until="listening"))
                if i == 0:
                    await replicas[0].read_until("ready (leader", 20)
            old = replicas[0]
            ids = await submit_days(old.url, 1, 12)
            await asyncio.sleep(0.5)
            old.signal(signal.SIGSTOP)
            sent_before = len(proxy.seen)
            successor = await leader_of(replicas[1:], LEASE_S + 15)
            await asyncio.sleep(LEASE_S)  # the successor acts; the old one sleeps on
            old.signal(signal.SIGCONT)
            await old.read_until("lost the lease", 15)
            assert await role(old.url) == "standby"
            jobs = await all_terminal(successor.url, len(ids), 60)
            assert {j["phase"] for j in jobs} == {"succeeded"}
            assert proxy.seen[sent_before:] == [], "the woken leader called the Overlord"
        finally:
            await stop_all(replicas)
            await runner.cleanup()
    await no_job_twice_and_the_log_verifies(sim, db_url)


async def terminate_backends(db_url: str) -> int:
    """Cut every connection to the test database but this one (what a DBA or a proxy does)."""
    conn = await asyncpg.connect(db_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


async def test_connections_cut_under_load_lose_and_duplicate_no_job(
    tmp_path: Path, db_url: str
) -> None:
    sim = simulator(min_s=0.5, max_s=1.5)
    async with running(sim) as overlord:
        replicas = await start_replicas(tmp_path, [overlord] * 2, db_url)
        try:
            leader = await leader_of(replicas, 20)
            ids = await submit_days(leader.url, 1, 20)
            for _ in range(3):
                await asyncio.sleep(0.7)
                assert await terminate_backends(db_url) > 0
            after = await leader_of(replicas, LEASE_S + 15)
            jobs = await all_terminal(after.url, len(ids), 60)
            assert {j["phase"] for j in jobs} == {"succeeded"}
            assert {j["attempt"] for j in jobs} == {1}, "a cut connection cost a job a retry"
        finally:
            await stop_all(replicas)
    await no_job_twice_and_the_log_verifies(sim, db_url)


@pytest.fixture
async def private_server() -> AsyncIterator[PrivateCluster]:
    """A cluster of this test's own: the shared server must never be restarted."""
    pg_support.require_server_binaries()
    folder = pg_support.new_private_dir()
    try:
        yield await asyncio.to_thread(lambda: PrivateCluster(folder / "cluster").init().start())
    finally:
        await asyncio.to_thread(pg_support.stop_private, folder)


async def test_a_server_restart_under_load_loses_and_duplicates_no_job(
    tmp_path: Path, private_server: PrivateCluster
) -> None:
    admin = await asyncpg.connect(private_server.admin_url)
    try:
        await admin.execute('CREATE DATABASE "orch"')
    finally:
        await admin.close()
    db_url = private_server.admin_url.rsplit("/", 1)[0] + "/orch"
    sim = simulator(min_s=1.0, max_s=2.0)
    async with running(sim) as overlord:
        replicas = await start_replicas(tmp_path, [overlord] * 2, db_url)
        try:
            first = await leader_of(replicas, 20)
            ids = await submit_days(first.url, 1, 30)
            await asyncio.sleep(0.8)  # some submitted, some running, some waiting
            assert sim.stats()["submissions"] > 0
            # A fast restart, shorter than the lease: every connection cut, the leader keeps
            # leading on new ones.
            await asyncio.to_thread(private_server.restart)
            assert await leader_of(replicas, LEASE_S + 15) is first
            _, mid = await get(first.url, "/v1/jobs?limit=1000", TOKEN)
            assert not all(j["terminal"] for j in mid["jobs"]), "the load was over too soon"
            # Down for longer than the lease: leadership lapses and is taken anew (epoch 2).
            await asyncio.to_thread(private_server.stop, "fast")
            await asyncio.sleep(LEASE_S + 1)
            await asyncio.to_thread(private_server.start)
            after = await leader_of(replicas, LEASE_S + 15)
            jobs = await all_terminal(after.url, len(ids), 60)
            assert {j["phase"] for j in jobs} == {"succeeded"}
            assert sorted(j["job_id"] for j in jobs) == sorted(ids)
            assert [await role(r.url) for r in replicas].count("leader") == 1
        finally:
            await stop_all(replicas)
    assert sim.stats()["max_successes_per_interval"] == 1
    await no_job_twice_and_the_log_verifies(sim, db_url)
    conn = await asyncpg.connect(db_url)
    try:
        assert await conn.fetchval("SELECT epoch FROM leadership") >= 2
    finally:
        await conn.close()
