"""Situations the fixture bodies were recorded in, each set up on a target and answered
with plain HTTP (not our client): what `test_bodies_match_fixtures` compares."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from overlord.sim.server import Faults

from .conftest import Raw, Target, noop, unique_id
from .support import eventually
from .test_cluster_endpoints import batch
from .test_supervisors import kafka_spec

IX = "/druid/indexer/v1"
DUP_ID = "index_parallel_wikipedia_odofhkle_2023-06-23T21:07:28.226Z"
UNKNOWN_ID = "index_parallel_wikipedia_zzzzzzzz_2023-06-26T00:00:00.000Z"
DAY = "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z"
BAD = "2015-09-13T00:00:00.000Z/2015-09-14T00:00:00.000Z"

Produce = Callable[[Target], Awaitable[Raw]]


async def submitted(t: Target, spec: dict[str, Any]) -> str:
    raw = await t.raw("POST", f"{IX}/task", body=spec)
    assert raw.status == 200, raw
    task_id: str = raw.json()["task"]
    return task_id


async def settled(t: Target, task_id: str, runner: str | None = None) -> dict[str, Any]:
    async def status() -> dict[str, Any]:
        body = (await t.raw("GET", f"{IX}/task/{task_id}/status")).json()
        row: dict[str, Any] = body["status"]
        return row

    def ok(s: dict[str, Any]) -> bool:
        return bool(s["runnerStatusCode"] == runner if runner else s["statusCode"] != "RUNNING")

    return await eventually(status, ok, timeout_s=t.wait_s)


def get(path: str) -> Produce:
    async def produce(t: Target) -> Raw:
        return await t.raw("GET", path)

    return produce


def post(path: str, body: Any = None) -> Produce:
    async def produce(t: Target) -> Raw:
        return await t.raw("POST", path, body=body)

    return produce


def status_of(spec: dict[str, Any], runner: str | None = None, *, stop: bool = False) -> Produce:
    async def produce(t: Target) -> Raw:
        task_id = await submitted(t, spec)
        if stop:
            await t.raw("POST", f"{IX}/task/{task_id}/shutdown")
        else:
            await settled(t, task_id, runner)
        return await t.raw("GET", f"{IX}/task/{task_id}/status")

    return produce


def duplicate(t_spec: dict[str, Any]) -> Produce:
    async def produce(t: Target) -> Raw:
        await submitted(t, t_spec)
        return await t.raw("POST", f"{IX}/task", body=t_spec)

    return produce


def report_of(spec: dict[str, Any], *, live: bool = False) -> Produce:
    async def produce(t: Target) -> Raw:
        task_id = await submitted(t, spec)
        await settled(t, task_id, "RUNNING" if live else None)
        return await t.raw("GET", f"{IX}/task/{task_id}/reports")

    return produce


async def bulk_mixed(t: Target) -> Raw:
    done = await submitted(t, noop(unique_id("done_one"), run_ms=5))
    await settled(t, done)
    running = await submitted(t, noop(unique_id("running_one"), run_ms=60_000))
    return await t.raw("POST", f"{IX}/taskStatus", body=[done, running, "does_not_exist"])


async def listing(t: Target, query: str, tasks: int = 1) -> Raw:
    for n in range(tasks):
        await submitted(
            t, noop(unique_id(f"listed_{n}"), run_ms=5 if "complete" in query else 60_000)
        )
    await eventually(lambda: t.raw("GET", f"{IX}/tasks?{query}"), lambda r: r.json() != [])
    return await t.raw("GET", f"{IX}/tasks?{query}")


async def mixed_listing(t: Target) -> Raw:
    await settled(t, await submitted(t, noop(unique_id("done_noop"), run_ms=5)))
    parallel = batch("running_parallel", BAD, maxNumConcurrentSubTasks=2)
    await settled(t, await submitted(t, parallel), "RUNNING")
    await submitted(t, batch("waiting_batch", BAD))
    await eventually(
        lambda: t.raw("GET", f"{IX}/tasks"),
        lambda r: {row["runnerStatusCode"] for row in r.json()} >= {"NONE", "RUNNING", "WAITING"},
    )
    return await t.raw("GET", f"{IX}/tasks")


async def waiting_listing(t: Target) -> Raw:
    await settled(t, await submitted(t, batch("holder", DAY)), "RUNNING")
    await submitted(t, batch("waiter", DAY))
    await eventually(lambda: t.raw("GET", f"{IX}/tasks?state=waiting"), lambda r: r.json() != [])
    return await t.raw("GET", f"{IX}/tasks?state=waiting")


async def pending_status(t: Target) -> Raw:
    await submitted(t, noop(unique_id("takes_the_only_slot"), run_ms=60_000))
    task_id = await submitted(t, noop(unique_id("waits_for_a_slot"), run_ms=60_000))
    await settled(t, task_id, "PENDING")
    return await t.raw("GET", f"{IX}/task/{task_id}/status")


async def waiting_status(t: Target) -> Raw:
    await settled(t, await submitted(t, batch("holder", DAY)), "RUNNING")
    task_id = await submitted(t, batch("waiter", DAY))
    return await t.raw("GET", f"{IX}/task/{task_id}/status")


async def held_locks(t: Target, path: str) -> Raw:
    await settled(t, await submitted(t, batch("locker", DAY)), "RUNNING")
    return await t.raw("POST", path, body=[{"datasource": "wikipedia", "priority": 0}])


async def busy_workers(t: Target) -> Raw:
    await settled(t, await submitted(t, batch("busy", DAY)), "RUNNING")
    return await t.raw("GET", f"{IX}/workers")


async def shutdown_all(t: Target) -> Raw:
    await submitted(t, noop(run_ms=60_000, dataSource="wikipedia_api"))
    return await t.raw("POST", f"{IX}/datasources/wikipedia_api/shutdownAllTasks")


async def log_of_finished(t: Target) -> Raw:
    task_id = await submitted(t, noop(unique_id("logged"), run_ms=5))
    await settled(t, task_id)
    return await t.raw("GET", f"{IX}/task/{task_id}/log")


async def log_before_running(t: Target) -> Raw:
    await submitted(t, noop(unique_id("takes_the_only_slot"), run_ms=60_000))
    task_id = await submitted(t, noop(unique_id("no_log_yet"), run_ms=60_000))
    await settled(t, task_id, "PENDING")
    return await t.raw("GET", f"{IX}/task/{task_id}/log")


async def reports_before_running(t: Target) -> Raw:
    await submitted(t, noop(unique_id("takes_the_only_slot"), run_ms=60_000))
    task_id = await submitted(t, batch("no_report_yet", DAY))
    await settled(t, task_id, "PENDING")
    return await t.raw("GET", f"{IX}/task/{task_id}/reports")


async def spec_of(t: Target) -> Raw:
    task_id = await submitted(t, batch("stored", DAY))
    raw = await t.raw("GET", f"{IX}/task/{task_id}")
    body = raw.json()
    body["payload"].pop("spec")  # the defaults Druid fills in are not simulated; see below
    return Raw(status=raw.status, content_type=raw.content_type, body=_encode(body), headers={})


def _encode(value: Any) -> bytes:
    return msgspec.json.encode(value)


def supervisor(spec: dict[str, Any], then: str, *, wait_tasks: bool = False) -> Produce:
    async def produce(t: Target) -> Raw:
        sid = (await t.raw("POST", f"{IX}/supervisor", body=spec)).json()["id"]
        if wait_tasks:
            await eventually(
                lambda: t.raw("GET", f"{IX}/supervisor/{sid}/status"),
                lambda r: any(x.get("currentOffsets") for x in r.json()["payload"]["activeTasks"]),
            )
        if then.startswith("POST "):
            return await t.raw("POST", then[5:].format(id=sid))
        return await t.raw("GET", then.format(id=sid))

    return produce


def suspended_twice(t_spec: dict[str, Any]) -> Produce:
    async def produce(t: Target) -> Raw:
        sid = (await t.raw("POST", f"{IX}/supervisor", body=t_spec)).json()["id"]
        await t.raw("POST", f"{IX}/supervisor/{sid}/suspend")
        return await t.raw("POST", f"{IX}/supervisor/{sid}/suspend")

    return produce


async def covered(t: Target, path: str) -> Raw:
    hours = [
        f"2015-09-12T{h:02d}:00:00.000Z/2015-09-12T{h + 1:02d}:00:00.000Z" for h in (0, 19, 20)
    ]
    ids = [await submitted(t, batch(f"hour{n}", hour)) for n, hour in enumerate(hours)]
    for task_id in ids:
        await settled(t, task_id)
    return await t.raw("GET", path)


async def standby(t: Target) -> Raw:
    t.need_sim().leader_url = "http://overlord-2.example.com:8090"
    return await t.raw("GET", f"{IX}/task/{DUP_ID}/status")


async def outage(t: Target) -> Raw:
    t.need_sim().set_faults(Faults(outage_s=30))
    return await t.raw("GET", f"{IX}/tasks")


async def as_user(t: Target, user: str, password: str, path: str) -> Raw:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return await t.raw("GET", path, headers={"Authorization": f"Basic {token}"})


async def kafka_report(t: Target) -> Raw:
    sid = (await t.raw("POST", f"{IX}/supervisor", body=kafka_spec())).json()["id"]
    rows = await eventually(
        lambda: t.raw("GET", f"{IX}/tasks?state=complete&type=index_kafka"),
        lambda r: r.json() != [],
    )
    task_id = rows.json()[0]["id"]
    assert task_id.startswith(f"index_kafka_{sid}_")
    return await t.raw("GET", f"{IX}/task/{task_id}/reports")


def on_task(path_tail: str, spec: dict[str, Any]) -> Produce:
    """POST (shutdown) or GET (anything else) `/task/{id}/<tail>` of a fresh task."""

    async def produce(t: Target) -> Raw:
        task_id = await submitted(t, spec)
        method = "POST" if path_tail == "shutdown" else "GET"
        return await t.raw(method, f"{IX}/task/{task_id}/{path_tail}")

    return produce
