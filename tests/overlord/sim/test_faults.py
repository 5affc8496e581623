"""Fault injection and the simulator's control surface: error rates per endpoint, error
shapes, latency, dropped connections, timed events (restart, no leader, failover), scenario
files, and `/sim/stats`, `/sim/faults`, `/sim/reset`, `/sim/restart`, `/sim/leader`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from overlord.sim.cluster import ClusterConfig
from overlord.sim.scenario import ScenarioError, builtin_scenarios, load_scenario
from overlord.sim.server import FaultEvent, Faults, SimConfig, Simulator
from tests.contract.support import until

Client = TestClient[web.Request, web.Application]
TASK = {"type": "noop", "id": "n1", "runTime": 60_000}
STATS_KEYS = {
    "requests",
    "requests_total",
    "tasks",
    "submissions",
    "duplicate_submissions",
    "max_live_tasks_per_interval",
    "max_successes_per_interval",
    "live_tasks",
}


@pytest.fixture
async def sim_client() -> AsyncIterator[tuple[Simulator, TestClient[web.Request, web.Application]]]:
    sim = Simulator(SimConfig(cluster=ClusterConfig(seed=9, lock_delay_s=0)))
    async with TestClient(TestServer(sim.app())) as client:
        yield sim, client


async def test_an_error_rate_hits_only_its_endpoint_with_the_configured_shape(
    sim_client: tuple[Simulator, TestClient[web.Request, web.Application]],
) -> None:
    sim, client = sim_client
    sim.set_faults(Faults(error_rate={"status": 1.0}, error_status=502))
    assert (await client.post("/druid/indexer/v1/task", json=TASK)).status == 200
    failing = await client.get("/druid/indexer/v1/task/n1/status")
    assert failing.status == 502
    assert failing.content_type == "text/html"
    assert "502 Bad Gateway" in await failing.text()
    sim.set_faults(Faults(error_rate={"*": 1.0}, error_status=500))
    body = await (await client.get("/druid/indexer/v1/tasks")).json()
    assert body == {"error": "simulated failure of tasks"}
    sim.set_faults(Faults(error_rate={"*": 1.0}, error_status=503))
    empty = await client.get("/druid/indexer/v1/tasks")
    assert (empty.status, await empty.read()) == (503, b"")
    assert sim.stats()["faults_injected"]["errors"] == 3


async def test_an_error_rate_below_one_fails_a_seeded_share_of_calls(
    sim_client: tuple[Simulator, TestClient[web.Request, web.Application]],
) -> None:
    sim, client = sim_client
    sim.set_faults(Faults(error_rate={"health": 0.3}))
    statuses = [(await client.get("/status/health")).status for _ in range(200)]
    assert 30 <= statuses.count(500) <= 90


async def test_latency_delays_answers_by_the_configured_amount(
    sim_client: tuple[Simulator, TestClient[web.Request, web.Application]],
) -> None:
    sim, client = sim_client
    sim.set_faults(Faults(latency_ms=40, slow_endpoints={"workers": 60}))
    started = time.perf_counter()
    await client.get("/status/health")
    assert time.perf_counter() - started >= 0.04
    started = time.perf_counter()
    await client.get("/druid/indexer/v1/workers")
    assert time.perf_counter() - started >= 0.1


async def test_exponential_latency_draws_are_seeded_and_spread_around_the_mean() -> None:
    faults = Faults(latency_ms=10, latency_jitter_ms=20, latency_distribution="exponential")
    draws = []
    for _ in range(2):
        state = Simulator(SimConfig(faults=faults)).fault_state
        draws.append([state.latency_s("status") for _ in range(2000)])
    assert draws[0] == draws[1]
    mean_ms = sum(draws[0]) / len(draws[0]) * 1000
    assert 25 < mean_ms < 35
    assert min(draws[0]) >= 0.01


async def test_a_reset_drops_the_connection_before_the_request_is_handled(
    sim_client: tuple[Simulator, TestClient[web.Request, web.Application]],
) -> None:
    sim, client = sim_client
    sim.set_faults(Faults(reset_rate={"submit": 1.0}))
    with pytest.raises(aiohttp.ClientError):
        await client.post("/druid/indexer/v1/task", json=TASK)
    assert sim.stats()["submissions"] == 0
    assert sim.stats()["faults_injected"]["resets"] == 1


async def test_timed_events_restart_the_overlord_and_take_its_leadership_away_for_a_while(
    sim_client: tuple[Simulator, TestClient[web.Request, web.Application]],
) -> None:
    sim, client = sim_client
    await client.post("/druid/indexer/v1/task", json=TASK)
    sim.set_faults(
        Faults(
            events=[
                FaultEvent(at_s=0.01, kind="restart", mode="forget", duration_s=0.05),
                FaultEvent(at_s=0.1, kind="no_leader", duration_s=0.1),
            ]
        )
    )
    await until(lambda: "n1" not in sim.cluster.tasks)
    restarting = await client.get("/druid/indexer/v1/tasks")
    assert (restarting.status, restarting.content_type) == (503, "text/html")  # no leader yet
    await until(lambda: not sim.fault_state.leaderless())
    await until(lambda: sim.fault_state.leaderless())  # the no_leader event
    answer = await client.get("/druid/indexer/v1/tasks")
    assert answer.status == 503
    assert answer.content_type == "text/html"
    assert (await client.get("/druid/indexer/v1/isLeader")).status == 404
    await until(lambda: not sim.fault_state.leaderless())
    assert (await client.get("/druid/indexer/v1/task/n1/status")).status == 404
    assert sim.stats()["faults_injected"] == {
        "event_restart": 1,
        "event_no_leader": 1,
        "no_leader_503": 2,  # the two task lists; isLeader is answered locally
    }


async def test_a_restart_has_no_leader_then_a_leader_warming_up_then_serves_everything(
    sim_client: tuple[Simulator, TestClient[web.Request, web.Application]],
) -> None:
    # REFERENCE §1.2: a restarting node answers 503 (Jetty HTML) everywhere but its local
    # paths until a leader is known; the new leader then refuses only what needs its task
    # queue (503, empty) until that has started.
    sim, client = sim_client
    await client.post("/druid/indexer/v1/task", json=TASK)
    assert sim.restart("keep", down_s=0.2, warmup_s=0.3) == 0
    status_path = "/druid/indexer/v1/task/n1/status"
    down = [await client.get(status_path), await client.post("/druid/indexer/v1/task", json=TASK)]
    assert [(r.status, r.content_type) for r in down] == [(503, "text/html")] * 2
    assert (await client.get("/druid/indexer/v1/isLeader")).status == 404
    assert (await client.get("/status/health")).status == 200
    await until(lambda: not sim.fault_state.leaderless())
    assert sim.fault_state.warming_up("submit")
    warming = await client.post("/druid/indexer/v1/task", json={**TASK, "id": "n2"})
    assert (warming.status, await warming.read()) == (503, b"")
    served = await client.get(status_path)
    assert served.status == 200
    assert (await served.json())["status"]["status"] == "RUNNING"  # kept across the restart
    await until(lambda: not sim.fault_state.warming_up("submit"))
    assert (await client.post("/druid/indexer/v1/task", json={**TASK, "id": "n2"})).status == 200
    assert sim.stats()["faults_injected"] == {"no_leader_503": 2, "warmup_503": 1}


async def test_a_leader_warming_up_refuses_only_what_needs_its_task_queue(
    sim_client: tuple[Simulator, TestClient[web.Request, web.Application]],
) -> None:
    # REFERENCE §1.2: just after gaining leadership, endpoints that need the task queue,
    # runner or supervisor manager answer 503 (empty); status, reports and logs do not.
    sim, client = sim_client
    await client.post("/druid/indexer/v1/task", json=TASK)
    sim.set_faults(Faults(events=[FaultEvent(at_s=0.0, kind="warmup", duration_s=0.3)]))
    await until(lambda: sim.fault_state.warming_up("submit"))
    refused = [
        await client.post("/druid/indexer/v1/task", json={**TASK, "id": "n2"}),
        await client.get("/druid/indexer/v1/tasks"),
        await client.get("/druid/indexer/v1/workers"),
        await client.get("/druid/indexer/v1/supervisor"),
    ]
    assert [(r.status, await r.read()) for r in refused] == [(503, b"")] * 4
    served = await client.get("/druid/indexer/v1/task/n1/status")
    assert served.status == 200
    assert (await served.json())["status"]["status"] == "RUNNING"
    assert (await client.post("/druid/indexer/v1/taskStatus", json=["n1"])).status == 200
    await until(lambda: not sim.fault_state.warming_up("submit"))
    assert (await client.post("/druid/indexer/v1/task", json={**TASK, "id": "n2"})).status == 200


async def test_a_leader_warming_up_still_answers_404_for_an_unknown_task_or_supervisor(
    sim_client: tuple[Simulator, TestClient[web.Request, web.Application]],
) -> None:
    # The resource filters look the id up in task storage (and the supervisor store) before
    # the resource method needs the task queue: an unknown id is 404 text even now, and only
    # a known one gets the 503 (REFERENCE §1.2, §2.3, §4.8).
    sim, client = sim_client
    await client.post("/druid/indexer/v1/task", json=TASK)
    sim.restart("keep", warmup_s=5)
    unknown = await client.post("/druid/indexer/v1/task/nope/shutdown")
    assert unknown.status == 404
    assert await unknown.text() == "Cannot find any task with id: [nope]"
    known = await client.post("/druid/indexer/v1/task/n1/shutdown")
    assert (known.status, await known.read()) == (503, b"")
    supervisor = await client.post("/druid/indexer/v1/supervisor/nope/suspend")
    assert supervisor.status == 404
    assert await supervisor.text() == "Cannot find any supervisor with id: [nope]"


async def test_a_standby_event_redirects_for_its_duration_then_leads_again(
    sim_client: tuple[Simulator, TestClient[web.Request, web.Application]],
) -> None:
    sim, client = sim_client
    other = "http://overlord-2.example.com:8090"
    sim.set_faults(
        Faults(events=[FaultEvent(at_s=0, kind="standby", leader_url=other, duration_s=0.1)])
    )
    await until(lambda: sim.leader_url is not None)
    moved = await client.get("/druid/indexer/v1/tasks?state=running", allow_redirects=False)
    assert moved.status == 307
    assert moved.headers["Location"] == f"{other}/druid/indexer/v1/tasks?state=running"
    await until(lambda: sim.leader_url is None)
    assert (await client.get("/druid/indexer/v1/tasks")).status == 200


async def test_the_control_surface_sets_faults_restarts_switches_roles_and_resets(
    sim_client: tuple[Simulator, TestClient[web.Request, web.Application]],
) -> None:
    sim, client = sim_client
    await client.post("/druid/indexer/v1/task", json=TASK)
    stats = await (await client.get("/sim/stats")).json()
    assert set(stats) >= STATS_KEYS
    assert stats["requests"] == {"submit": 1}
    assert stats["tasks"] == {"RUNNING": 1}
    set_to = await client.post("/sim/faults", json={"error_rate": {"tasks": 0.5}})
    assert (await set_to.json())["error_rate"] == {"tasks": 0.5}
    assert (await (await client.get("/sim/faults")).json())["error_rate"] == {"tasks": 0.5}
    refused = await client.post("/sim/faults", json={"error_rate": "lots"})
    assert refused.status == 400
    assert "bad faults" in (await refused.json())["error"]
    # A plain restart keeps running tasks, as Druid's metadata store does.
    plain = await client.post("/sim/restart")
    assert await plain.json() == {"mode": "keep", "affected": 0}
    assert (await (await client.get("/sim/stats")).json())["tasks"] == {"RUNNING": 1}
    restarted = await client.post("/sim/restart", json={"mode": "fail"})
    assert await restarted.json() == {"mode": "fail", "affected": 1}
    assert (await client.post("/sim/restart", json={"mode": "explode"})).status == 400
    for bad in ({"down_s": -1}, {"outage_s": 5}, {"warmup_s": "soon"}):
        answer = await client.post("/sim/restart", json=bad)
        assert answer.status == 400
        assert "bad restart options" in (await answer.json())["error"]
    await client.post("/sim/leader", json={"leader_url": "http://elsewhere:8090"})
    assert (await client.get("/druid/indexer/v1/workers", allow_redirects=False)).status == 307
    await client.post("/sim/reset")
    stats = await (await client.get("/sim/stats")).json()
    assert stats["tasks"] == {}
    assert stats["requests"] == {}
    assert stats["role"] == "leader"
    assert sim.faults == Faults()
    # A restart with timings: no leader for 30 s, then 60 s warming up.
    timed = await client.post("/sim/restart", json={"down_s": 30, "warmup_s": 60})
    assert await timed.json() == {"mode": "keep", "affected": 0}
    assert sim.fault_state.leaderless()
    assert sim.fault_state.warmup_until - sim.fault_state.no_leader_until == pytest.approx(60)


def test_every_builtin_scenario_loads_and_names_what_it_configures() -> None:
    names = builtin_scenarios()
    assert {"flaky_overlord", "failover", "secured_cluster"} <= set(names)
    flaky = load_scenario("flaky_overlord")
    assert flaky.faults.reset_after_rate == {"submit": 0.05}
    assert flaky.faults.latency_distribution == "exponential"
    failover = load_scenario("failover")
    assert [e.kind for e in failover.faults.events] == ["restart", "no_leader", "restart"]
    secured = load_scenario("secured_cluster")
    assert secured.forbidden_users == ["viewer"]
    assert secured.cluster.sub_tasks


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[cluster]\nworkerz = 3\n", "unknown field `workerz`"),
        ("[cluster]\nworkers = 'many'\n", "Expected `int`"),
        ("[cluster]\ntransient_kinds = ['gremlins']\n", "unknown failure kinds ['gremlins']"),
        ("[cluster.scripted]\n'w/i' = ['transient:nope']\n", "unknown failure kinds ['nope']"),
        ("[faults\n", "not valid TOML"),
    ],
)
def test_a_bad_scenario_file_is_refused_with_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


async def test_a_scenario_with_timed_events_arms_them_when_the_server_starts() -> None:
    config = load_scenario("failover")
    # Late enough for the POST below to land first on a loaded machine (0.01 s did not,
    # once, under `pytest -n 2`), so that the restart has a task to fail.
    config.faults.events = [FaultEvent(at_s=0.5, kind="restart", mode="fail")]
    sim = Simulator(config)
    async with TestClient(TestServer(sim.app())) as client:
        await client.post("/druid/indexer/v1/task", json=TASK)
        await until(lambda: sim.stats()["faults_injected"].get("event_restart") == 1)
        status = await (await client.get("/druid/indexer/v1/task/n1/status")).json()
    assert status["status"]["statusCode"] == "FAILED"
