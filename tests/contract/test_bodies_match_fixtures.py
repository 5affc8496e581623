"""The simulator's answers against the real response bodies in
`tests/fixtures/druid-api/responses/`: status code, content type, field names and JSON types,
and the exact text where Druid's text is fixed (plain-text errors, error messages).

Each case sets up the situation a fixture records, asks with plain HTTP (not our client) and
compares. Cases marked portable also run against a real Overlord (`--overlord`), comparing
shapes only. Every fixture file is either checked here or listed in NOT_SIMULATED with the
reason, so a new fixture cannot be forgotten.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from overlord.simulator import Faults, SimConfig

from .conftest import MakeTarget, Raw, Target, fast_cluster, noop, unique_id
from .support import FIXTURES, eventually, fixture_bytes, fixture_json, shape_diff
from .test_cluster_endpoints import batch
from .test_supervisors import kafka_spec, kinesis_spec

IX = "/druid/indexer/v1"
DUP_ID = "index_parallel_wikipedia_odofhkle_2023-06-23T21:07:28.226Z"
UNKNOWN_ID = "index_parallel_wikipedia_zzzzzzzz_2023-06-26T00:00:00.000Z"
DAY = "2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.000Z"
BAD = "2015-09-13T00:00:00.000Z/2015-09-14T00:00:00.000Z"
TASK_ROW = frozenset({"$[].location.k8sPodName"})
REPORT_OPTIONAL = frozenset(
    {
        "$.ingestionStatsAndErrors.payload.segmentsPublished",
        "$.ingestionStatsAndErrors.payload.segmentsRead",
    }
)
REPORT_MAPS = frozenset({"$.ingestionStatsAndErrors.payload.unparseableEvents"})
CONTEXT = frozenset({"$.taskContext.payload"})  # free-form: the task's own context

NOT_SIMULATED = {
    "router_503_no_leader.json": "the Router is not simulated (the Overlord's own 503s are)",
    "pending_segments_delete_200.json": "DELETE /pendingSegments is not used by the orchestrator",
    "coordinator_metadata_datasources_200.json": "metadata endpoints are not used",
    "coordinator_metadata_segment_ids_200.json": "metadata endpoints are not used",
    "coordinator_metadata_segments_full_200.json": "metadata endpoints are not used",
    "error_500_no_worker_listing.json": "a runner without workers (Kubernetes) is not simulated",
    "task_status_404_resource_level.json": "a lookup race; test_client_decodes_fixtures covers it",
    "task_submit_400_duplicate_id_race_druid30plus.json": "a race; the client test covers it",
    "task_submit_400_payload_too_large.json": "maxTaskPayloadSize is not simulated",
    "workers_list_200_docs_sample.json": "an older field set (no `disabled`)",
    "MANIFEST.md": "the index of the fixtures, not a body",
}

Produce = Callable[[Target], Awaitable[Raw]]


@dataclass(frozen=True)
class Case:
    fixture: str
    produce: Produce
    status: int
    content_type: str = "application/json"
    cluster: dict[str, Any] = field(default_factory=dict)
    sim: dict[str, Any] = field(default_factory=dict)
    exact: bool = False  # byte-for-byte (text) or equal JSON
    maps: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    opaque: frozenset[str] = CONTEXT
    portable: bool = False  # also meaningful against a real Overlord (shape only)


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


SECURED = {
    "users": {"admin": "pw", "viewer": "pw"},
    "forbidden_users": ["viewer"],
    "host_name": "overlord-1.example.com",
}
PARSE_FAIL = {"scripted": {f"wikipedia/{BAD}": ["structural:parse_errors"]}}
S3_FAIL = {"scripted": {f"wikipedia/{BAD}": ["transient:s3_throttle"]}}
ONE_SLOT = {"workers": 1, "capacity_per_worker": 1}
PARALLEL = {"maxNumConcurrentSubTasks": 4}

CASES = [
    Case("task_submit_200.json", post(f"{IX}/task", noop()), 200, portable=True),
    Case("task_submit_400_duplicate_id_druid30plus.json", duplicate(noop(DUP_ID)), 400, exact=True),
    Case(
        "task_submit_400_duplicate_id_druid27to29.json",
        duplicate(noop(DUP_ID)),
        400,
        cluster={"druid_version": 28},
        exact=True,
    ),
    Case(
        "task_submit_400_duplicate_id_pre27.json",
        duplicate(noop(DUP_ID)),
        400,
        cluster={"druid_version": 26},
        exact=True,
    ),
    Case(
        "task_submit_400_unknown_task_type.json",
        post(f"{IX}/task", {"type": "index_parallell"}),
        400,
        exact=True,
        portable=True,
    ),
    Case(
        "task_submit_400_invalid_task_id.json",
        post(f"{IX}/task", {**batch("x"), "id": "bad/id"}),
        400,
        exact=True,
        portable=True,
    ),
    Case(
        "task_submit_400_parser_removed_druid37plus.json",
        post(
            f"{IX}/task",
            {
                "type": "index_parallel",
                "spec": {"dataSchema": {"dataSource": "w", "parser": {"type": "string"}}},
            },
        ),
        400,
        cluster={"druid_version": 37},
        exact=True,
    ),
    Case(
        "error_400_json_mapping_missing_type.json",
        post(f"{IX}/task", {"id": "x"}),
        400,
        exact=True,
        portable=True,
    ),
    Case(
        "task_submit_429_queue_full.json",
        post(f"{IX}/task", noop()),
        429,
        cluster={"queue_max_size": 0},
    ),
    Case("task_status_running.json", status_of(noop(run_ms=60_000), "RUNNING"), 200, portable=True),
    Case("task_status_pending.json", pending_status, 200, cluster=ONE_SLOT),
    Case(
        "task_status_waiting_for_locks.json",
        waiting_status,
        200,
        cluster={"min_duration_s": 30, "max_duration_s": 30},
    ),
    Case("task_status_success.json", status_of(noop(run_ms=5)), 200, portable=True),
    Case("task_status_failed.json", status_of(batch("p", BAD, **PARALLEL)), 200, cluster=S3_FAIL),
    Case(
        "task_status_failed_user_shutdown.json",
        status_of(noop(run_ms=60_000), stop=True),
        200,
        portable=True,
    ),
    Case(
        "task_status_404_unknown_id.txt",
        get(f"{IX}/task/{UNKNOWN_ID}/status"),
        404,
        "text/plain",
        exact=True,
        portable=True,
    ),
    Case("task_status_bulk_200.json", bulk_mixed, 200, portable=True),
    Case("task_status_bulk_200_mixed_unknown_omitted.json", bulk_mixed, 200, portable=True),
    Case(
        "task_status_bulk_200_all_unknown.json",
        post(f"{IX}/taskStatus", ["does_not_exist"]),
        200,
        exact=True,
        portable=True,
    ),
    Case(
        "task_status_bulk_400_empty.txt",
        post(f"{IX}/taskStatus", []),
        400,
        exact=True,
        portable=True,
    ),
    Case(
        "tasks_list_all_mixed.json",
        mixed_listing,
        200,
        optional=TASK_ROW,
        cluster={"sub_tasks": True, "min_duration_s": 30, "max_duration_s": 30},
    ),
    Case(
        "tasks_list_complete.json",
        lambda t: listing(t, "state=complete"),
        200,
        optional=TASK_ROW,
        portable=True,
    ),
    Case(
        "tasks_list_running.json",
        lambda t: listing(t, "state=running"),
        200,
        optional=TASK_ROW,
        portable=True,
    ),
    Case(
        "tasks_list_pending.json",
        lambda t: listing(t, "state=pending", 2),
        200,
        cluster=ONE_SLOT,
        optional=TASK_ROW,
    ),
    Case(
        "tasks_list_waiting.json",
        waiting_listing,
        200,
        optional=TASK_ROW,
        cluster={"min_duration_s": 30, "max_duration_s": 30},
    ),
    Case(
        "tasks_list_empty.json",
        get(f"{IX}/tasks?datasource=never_used_anywhere"),
        200,
        exact=True,
        portable=True,
    ),
    Case(
        "tasks_list_400_invalid_state.txt",
        get(f"{IX}/tasks?state=done"),
        400,
        "text/plain",
        exact=True,
        portable=True,
    ),
    Case("task_payload_200.json", spec_of, 200, optional=frozenset({"$.payload.spec"})),
    Case(
        "task_report_success_sequential.json",
        report_of(batch("s", DAY)),
        200,
        maps=REPORT_MAPS,
        optional=REPORT_OPTIONAL
        | {
            "$.ingestionStatsAndErrors.payload.recordsProcessed",
            "$.taskContext",
            "$.ingestionStatsAndErrors.payload.rowStats.determinePartitions.thrownAwayByReason",
            "$.ingestionStatsAndErrors.payload.rowStats.buildSegments.thrownAwayByReason",
        },
    ),
    Case(
        "task_report_success_sequential_current.json",
        report_of(batch("s", DAY)),
        200,
        maps=REPORT_MAPS,
    ),
    Case(
        "task_report_success_parallel.json",
        report_of(batch("p", DAY, **PARALLEL)),
        200,
        maps=REPORT_MAPS,
    ),
    Case(
        "task_report_failed_parallel.json",
        report_of(batch("p", BAD, **PARALLEL)),
        200,
        cluster=S3_FAIL,
        maps=REPORT_MAPS,
    ),
    Case(
        "task_report_failed_index_parse_exceptions.json",
        report_of(batch("i", BAD, maxSavedParseExceptions=5)),
        200,
        cluster=PARSE_FAIL,
        maps=REPORT_MAPS,
        optional=REPORT_OPTIONAL,
    ),
    Case(
        "task_report_live_running.json",
        report_of(batch("l", DAY), live=True),
        200,
        cluster={"min_duration_s": 30, "max_duration_s": 30},
    ),
    Case("task_report_kafka_completed.json", kafka_report, 200, maps=REPORT_MAPS),
    Case(
        "task_reports_404.txt",
        reports_before_running,
        404,
        "text/plain",
        exact=True,
        cluster=ONE_SLOT,
    ),
    Case("task_log_404.txt", log_before_running, 404, "text/plain", exact=True, cluster=ONE_SLOT),
    Case("task_log_200_excerpt.txt", log_of_finished, 200, "text/plain", portable=True),
    Case("task_shutdown_200.json", on_task("shutdown", noop(run_ms=60_000)), 200, portable=True),
    Case("datasource_shutdown_all_200.json", shutdown_all, 200, exact=True, portable=True),
    Case(
        "datasource_shutdown_all_404_empty.txt",
        post(f"{IX}/datasources/nothing_active/shutdownAllTasks"),
        404,
        "",
        exact=True,
        portable=True,
    ),
    Case("task_segments_404.json", on_task("segments", noop()), 404, exact=True, portable=True),
    Case(
        "workers_list_200.json",
        busy_workers,
        200,
        optional=frozenset({"$[].currCapacityUsedByTaskType", "$[].blacklistedUntil"}),
    ),
    Case("total_worker_capacity_200.json", get(f"{IX}/totalWorkerCapacity"), 200, portable=True),
    Case("worker_config_200.json", get(f"{IX}/worker"), 200, exact=True),
    Case(
        "locked_intervals_v2_200.json",
        lambda t: held_locks(t, f"{IX}/lockedIntervals/v2"),
        200,
        cluster={"min_duration_s": 30, "max_duration_s": 30},
        maps=frozenset({"$"}),
    ),
    Case(
        "active_locks_200.json",
        lambda t: held_locks(t, f"{IX}/activeLocks"),
        200,
        cluster={"min_duration_s": 30, "max_duration_s": 30},
        maps=frozenset({"$.datasourceToLocks"}),
    ),
    Case("leader_200.txt", get(f"{IX}/leader"), 200, portable=True),
    Case("is_leader_200.json", get(f"{IX}/isLeader"), 200, exact=True, portable=True),
    Case(
        "is_leader_404.json",
        get(f"{IX}/isLeader"),
        404,
        exact=True,
        sim={"leader_url": "http://overlord-2.example.com:8090"},
    ),
    Case("status_health_200.json", get("/status/health"), 200, exact=True, portable=True),
    Case(
        "status_self_discovered_200.json",
        get("/status/selfDiscovered/status"),
        200,
        exact=True,
        portable=True,
    ),
    Case("non_leader_307_headers.txt", standby, 307, ""),
    Case("error_503_not_leader_empty.txt", outage, 503, "", exact=True),
    Case("error_401_no_credentials.json", get(f"{IX}/tasks"), 401, sim=SECURED, exact=True),
    Case(
        "error_403_forbidden.json",
        lambda t: as_user(t, "viewer", "pw", f"{IX}/workers"),
        403,
        sim=SECURED,
        exact=True,
    ),
    Case(
        "error_403_tasks_datasource.txt",
        lambda t: as_user(t, "viewer", "pw", f"{IX}/tasks?datasource=wikipedia"),
        403,
        "text/plain",
        sim=SECURED,
        exact=True,
    ),
    Case(
        "supervisor_create_200_druid38plus.json",
        post(f"{IX}/supervisor", kafka_spec()),
        200,
        cluster={"druid_version": 38},
        exact=True,
    ),
    Case(
        "supervisor_create_200_legacy.json", post(f"{IX}/supervisor", kafka_spec()), 200, exact=True
    ),
    Case("supervisor_ids_200.json", supervisor(kafka_spec(), f"{IX}/supervisor"), 200),
    Case(
        "supervisor_states_200.json",
        supervisor(kafka_spec(), f"{IX}/supervisor?state=true"),
        200,
        cluster={"druid_version": 38},
    ),
    Case(
        "supervisor_status_kafka_200.json",
        supervisor(kafka_spec(), f"{IX}/supervisor/{{id}}/status", wait_tasks=True),
        200,
    ),
    Case(
        "supervisor_status_kafka_docs_sample.json",
        supervisor(kafka_spec(), f"{IX}/supervisor/{{id}}/status", wait_tasks=True),
        200,
        cluster={"druid_version": 33},
    ),
    Case(
        "supervisor_status_kafka_time_lag_200.json",
        supervisor(
            kafka_spec(emitTimeLagMetrics=True), f"{IX}/supervisor/{{id}}/status", wait_tasks=True
        ),
        200,
    ),
    Case(
        "supervisor_status_kinesis_200.json",
        supervisor(kinesis_spec(), f"{IX}/supervisor/{{id}}/status", wait_tasks=True),
        200,
    ),
    Case(
        "supervisor_status_unhealthy_200.json",
        supervisor(kafka_spec("wikipedia_stream"), f"{IX}/supervisor/{{id}}/status"),
        200,
        sim={"faults": Faults(unhealthy_supervisors=["wikipedia_stream"])},
    ),
    Case(
        "supervisor_health_200.json",
        supervisor(kafka_spec(), f"{IX}/supervisor/{{id}}/health"),
        200,
        exact=True,
    ),
    Case(
        "supervisor_health_503.json",
        supervisor(kafka_spec("wikipedia_stream"), f"{IX}/supervisor/{{id}}/health"),
        503,
        sim={"faults": Faults(unhealthy_supervisors=["wikipedia_stream"])},
        exact=True,
    ),
    Case(
        "supervisor_404_unknown_id.txt",
        get(f"{IX}/supervisor/no_such_supervisor/status"),
        404,
        "text/plain",
        exact=True,
        portable=True,
    ),
    Case("supervisor_suspend_400_already.json", suspended_twice(kafka_spec()), 400, exact=True),
    Case(
        "supervisor_terminate_200.json",
        supervisor(kafka_spec(), f"POST {IX}/supervisor/{{id}}/terminate"),
        200,
        exact=True,
    ),
    Case(
        "supervisor_bulk_action_200.json",
        post(f"{IX}/supervisor/suspendAll"),
        200,
        exact=True,
        portable=True,
    ),
    Case(
        "supervisor_stats_200.json",
        supervisor(kafka_spec(), f"{IX}/supervisor/{{id}}/stats", wait_tasks=True),
        200,
        maps=frozenset({"$.<0>"}),
    ),
    Case(
        "supervisor_post_400_unknown_type.json",
        post(f"{IX}/supervisor", {"type": "KafkaSupervisorSpec"}),
        400,
        sim={"supervisor_types": []},
        exact=True,
    ),
    Case(
        "coordinator_datasource_simple_200.json",
        lambda t: covered(t, "/druid/coordinator/v1/datasources/wikipedia"),
        200,
    ),
    Case(
        "coordinator_datasource_intervals_200.json",
        lambda t: covered(t, "/druid/coordinator/v1/datasources/wikipedia/intervals"),
        200,
        exact=True,
    ),
    Case(
        "coordinator_datasource_intervals_simple_200.json",
        lambda t: covered(t, "/druid/coordinator/v1/datasources/wikipedia/intervals?simple"),
        200,
    ),
]


def test_every_fixture_file_is_checked_or_its_absence_explained() -> None:
    checked = {c.fixture for c in CASES}
    files = {p.name for p in FIXTURES.iterdir()}
    assert files == checked | set(NOT_SIMULATED), {
        "unaccounted": sorted(files - checked - set(NOT_SIMULATED)),
        "missing files": sorted((checked | set(NOT_SIMULATED)) - files),
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.fixture)
async def test_the_simulator_answers_like_the_fixture(
    make_target: MakeTarget, case: Case, request: pytest.FixtureRequest
) -> None:
    real = request.config.getoption("--overlord")
    if real and not case.portable:
        pytest.skip("needs the simulator to set up this situation")
    if real:
        target = await make_target(portable=True)
    else:
        target = await make_target(SimConfig(cluster=fast_cluster(**case.cluster), **case.sim))
    raw = await case.produce(target)
    _compare(case, raw, exact=case.exact and not real)


def _compare(case: Case, raw: Raw, *, exact: bool) -> None:
    expected_bytes = fixture_bytes(case.fixture)
    assert raw.status == case.status, (raw.status, raw.body[:300])
    if case.content_type:
        assert raw.content_type.startswith(case.content_type), raw.content_type
    if case.fixture.endswith(".txt"):
        if case.fixture == "non_leader_307_headers.txt":
            location = expected_bytes.decode().split("Location: ")[1].split("\n")[0]
            assert raw.headers["Location"] == location
            assert raw.body == b""
        elif exact:
            assert raw.body == expected_bytes
        return
    if exact:
        assert raw.json() == fixture_json(case.fixture)
        return
    differences = shape_diff(
        raw.json(),
        fixture_json(case.fixture),
        maps=case.maps,
        optional=case.optional,
        opaque=case.opaque,
    )
    assert differences == [], f"{case.fixture}: {differences}"
