"""The simulator's answers against the real response bodies in
`tests/fixtures/druid-api/responses/`: status code, content type, field names and JSON types,
and the exact text where Druid's text is fixed (plain-text errors, error messages).

Each case sets up the situation a fixture records, asks with plain HTTP (not our client) and
compares. Cases marked portable also run against a real Overlord (`--overlord`), comparing
shapes only. Every fixture file is either checked here or listed in NOT_SIMULATED with the
reason, so a new fixture cannot be forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from overlord.sim.server import Faults, SimConfig

from .conftest import MakeTarget, Raw, fast_cluster, noop
from .situations import (
    BAD,
    DAY,
    DUP_ID,
    IX,
    UNKNOWN_ID,
    Produce,
    as_user,
    bulk_mixed,
    busy_workers,
    covered,
    duplicate,
    get,
    held_locks,
    kafka_report,
    listing,
    log_before_running,
    log_of_finished,
    mixed_listing,
    on_task,
    outage,
    pending_status,
    post,
    report_of,
    reports_before_running,
    shutdown_all,
    spec_of,
    standby,
    status_of,
    supervisor,
    suspended_twice,
    waiting_listing,
    waiting_status,
)
from .support import FIXTURES, fixture_bytes, fixture_json, shape_diff
from .test_cluster_endpoints import batch
from .test_supervisors import kafka_spec, kinesis_spec

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


SECURED = {
    "users": {"admin": "pw", "viewer": "pw"},
    "forbidden_users": ["viewer"],
    "host_name": "overlord-1.example.com",
}
PARSE_FAIL = {"scripted": {f"wikipedia/{BAD}": ["structural:parse_errors"]}}
S3_FAIL = {"scripted": {f"wikipedia/{BAD}": ["transient:s3_throttle"]}}
ONE_SLOT = {"workers": 1, "capacity_per_worker": 1}
PARALLEL = {"maxNumConcurrentSubTasks": 4}

WITH_PARSER = {
    "type": "index_parallel",
    "spec": {"dataSchema": {"dataSource": "w", "parser": {"type": "string"}}},
}
# The docs' pre-Druid-30 sample: no taskContext report, recordsProcessed or reason counts.
OLD_REPORT_OPTIONAL = REPORT_OPTIONAL | {
    "$.ingestionStatsAndErrors.payload.recordsProcessed",
    "$.taskContext",
    "$.ingestionStatsAndErrors.payload.rowStats.determinePartitions.thrownAwayByReason",
    "$.ingestionStatsAndErrors.payload.rowStats.buildSegments.thrownAwayByReason",
}

# fmt: off
CASES = [
    Case("task_submit_200.json", post(f"{IX}/task", noop()), 200, portable=True),
    Case("task_submit_400_duplicate_id_druid30plus.json", duplicate(noop(DUP_ID)), 400,
         exact=True),
    Case("task_submit_400_duplicate_id_druid27to29.json", duplicate(noop(DUP_ID)), 400,
         cluster={"druid_version": 28}, exact=True),
    Case("task_submit_400_duplicate_id_pre27.json", duplicate(noop(DUP_ID)), 400,
         cluster={"druid_version": 26}, exact=True),
    Case("task_submit_400_unknown_task_type.json", post(f"{IX}/task", {"type": "index_parallell"}),
         400, exact=True, portable=True),
    Case("task_submit_400_invalid_task_id.json",
         post(f"{IX}/task", {**batch("x"), "id": "bad/id"}), 400, exact=True, portable=True),
    Case("task_submit_400_parser_removed_druid37plus.json",
         post(f"{IX}/task", WITH_PARSER),
         400, cluster={"druid_version": 37}, exact=True),
    Case("error_400_json_mapping_missing_type.json", post(f"{IX}/task", {"id": "x"}), 400,
         exact=True, portable=True),
    Case("task_submit_429_queue_full.json", post(f"{IX}/task", noop()), 429,
         cluster={"queue_max_size": 0}),
    Case("task_status_running.json", status_of(noop(run_ms=60_000), "RUNNING"), 200,
         portable=True),
    Case("task_status_pending.json", pending_status, 200, cluster=ONE_SLOT),
    Case("task_status_waiting_for_locks.json", waiting_status, 200,
         cluster={"min_duration_s": 30, "max_duration_s": 30}),
    Case("task_status_success.json", status_of(noop(run_ms=5)), 200, portable=True),
    Case("task_status_failed.json", status_of(batch("p", BAD, **PARALLEL)), 200, cluster=S3_FAIL),
    Case("task_status_failed_user_shutdown.json", status_of(noop(run_ms=60_000), stop=True), 200,
         portable=True),
    Case("task_status_404_unknown_id.txt", get(f"{IX}/task/{UNKNOWN_ID}/status"), 404,
         "text/plain", exact=True, portable=True),
    Case("task_status_bulk_200.json", bulk_mixed, 200, portable=True),
    Case("task_status_bulk_200_mixed_unknown_omitted.json", bulk_mixed, 200, portable=True),
    Case("task_status_bulk_200_all_unknown.json", post(f"{IX}/taskStatus", ["does_not_exist"]),
         200, exact=True, portable=True),
    Case("task_status_bulk_400_empty.txt", post(f"{IX}/taskStatus", []), 400, exact=True,
         portable=True),
    Case("tasks_list_all_mixed.json", mixed_listing, 200, optional=TASK_ROW,
         cluster={"sub_tasks": True, "min_duration_s": 30, "max_duration_s": 30}),
    Case("tasks_list_complete.json", lambda t: listing(t, "state=complete"), 200,
         optional=TASK_ROW, portable=True),
    Case("tasks_list_running.json", lambda t: listing(t, "state=running"), 200, optional=TASK_ROW,
         portable=True),
    Case("tasks_list_pending.json", lambda t: listing(t, "state=pending", 2), 200,
         cluster=ONE_SLOT, optional=TASK_ROW),
    Case("tasks_list_waiting.json", waiting_listing, 200, optional=TASK_ROW,
         cluster={"min_duration_s": 30, "max_duration_s": 30}),
    Case("tasks_list_empty.json", get(f"{IX}/tasks?datasource=never_used_anywhere"), 200,
         exact=True, portable=True),
    Case("tasks_list_400_invalid_state.txt", get(f"{IX}/tasks?state=done"), 400, "text/plain",
         exact=True, portable=True),
    Case("task_payload_200.json", spec_of, 200, optional=frozenset({"$.payload.spec"})),
    Case("task_report_success_sequential.json", report_of(batch("s", DAY)), 200, maps=REPORT_MAPS,
         optional=OLD_REPORT_OPTIONAL),
    Case("task_report_success_sequential_current.json", report_of(batch("s", DAY)), 200,
         maps=REPORT_MAPS),
    Case("task_report_success_parallel.json", report_of(batch("p", DAY, **PARALLEL)), 200,
         maps=REPORT_MAPS),
    Case("task_report_failed_parallel.json", report_of(batch("p", BAD, **PARALLEL)), 200,
         cluster=S3_FAIL, maps=REPORT_MAPS),
    Case("task_report_failed_index_parse_exceptions.json",
         report_of(batch("i", BAD, maxSavedParseExceptions=5)), 200, cluster=PARSE_FAIL,
         maps=REPORT_MAPS, optional=REPORT_OPTIONAL),
    Case("task_report_live_running.json", report_of(batch("l", DAY), live=True), 200,
         cluster={"min_duration_s": 30, "max_duration_s": 30}),
    Case("task_report_kafka_completed.json", kafka_report, 200, maps=REPORT_MAPS),
    Case("task_reports_404.txt", reports_before_running, 404, "text/plain", exact=True,
         cluster=ONE_SLOT),
    Case("task_log_404.txt", log_before_running, 404, "text/plain", exact=True, cluster=ONE_SLOT),
    Case("task_log_200_excerpt.txt", log_of_finished, 200, "text/plain", portable=True),
    Case("task_shutdown_200.json", on_task("shutdown", noop(run_ms=60_000)), 200, portable=True),
    Case("datasource_shutdown_all_200.json", shutdown_all, 200, exact=True, portable=True),
    Case("datasource_shutdown_all_404_empty.txt",
         post(f"{IX}/datasources/nothing_active/shutdownAllTasks"), 404, "", exact=True,
         portable=True),
    Case("task_segments_404.json", on_task("segments", noop()), 404, exact=True, portable=True),
    Case("workers_list_200.json", busy_workers, 200,
         optional=frozenset({"$[].currCapacityUsedByTaskType", "$[].blacklistedUntil"})),
    Case("total_worker_capacity_200.json", get(f"{IX}/totalWorkerCapacity"), 200, portable=True),
    Case("worker_config_200.json", get(f"{IX}/worker"), 200, exact=True),
    Case("locked_intervals_v2_200.json", lambda t: held_locks(t, f"{IX}/lockedIntervals/v2"), 200,
         cluster={"min_duration_s": 30, "max_duration_s": 30}, maps=frozenset({"$"})),
    Case("active_locks_200.json", lambda t: held_locks(t, f"{IX}/activeLocks"), 200,
         cluster={"min_duration_s": 30, "max_duration_s": 30},
         maps=frozenset({"$.datasourceToLocks"})),
    Case("leader_200.txt", get(f"{IX}/leader"), 200, portable=True),
    Case("is_leader_200.json", get(f"{IX}/isLeader"), 200, exact=True, portable=True),
    Case("is_leader_404.json", get(f"{IX}/isLeader"), 404, exact=True,
         sim={"leader_url": "http://overlord-2.example.com:8090"}),
    Case("status_health_200.json", get("/status/health"), 200, exact=True, portable=True),
    Case("status_self_discovered_200.json", get("/status/selfDiscovered/status"), 200, exact=True,
         portable=True),
    Case("non_leader_307_headers.txt", standby, 307, ""),
    Case("error_503_not_leader_empty.txt", outage, 503, "", exact=True),
    Case("error_401_no_credentials.json", get(f"{IX}/tasks"), 401, sim=SECURED, exact=True),
    Case("error_403_forbidden.json", lambda t: as_user(t, "viewer", "pw", f"{IX}/workers"), 403,
         sim=SECURED, exact=True),
    Case("error_403_tasks_datasource.txt",
         lambda t: as_user(t, "viewer", "pw", f"{IX}/tasks?datasource=wikipedia"), 403,
         "text/plain", sim=SECURED, exact=True),
    Case("supervisor_create_200_druid38plus.json", post(f"{IX}/supervisor", kafka_spec()), 200,
         cluster={"druid_version": 38}, exact=True),
    Case("supervisor_create_200_legacy.json", post(f"{IX}/supervisor", kafka_spec()), 200,
         exact=True),
    Case("supervisor_ids_200.json", supervisor(kafka_spec(), f"{IX}/supervisor"), 200),
    Case("supervisor_states_200.json", supervisor(kafka_spec(), f"{IX}/supervisor?state=true"),
         200, cluster={"druid_version": 38}),
    Case("supervisor_status_kafka_200.json",
         supervisor(kafka_spec(), f"{IX}/supervisor/{{id}}/status", wait_tasks=True), 200),
    Case("supervisor_status_kafka_docs_sample.json",
         supervisor(kafka_spec(), f"{IX}/supervisor/{{id}}/status", wait_tasks=True), 200,
         cluster={"druid_version": 33}),
    Case("supervisor_status_kafka_time_lag_200.json",
         supervisor(kafka_spec(emitTimeLagMetrics=True), f"{IX}/supervisor/{{id}}/status",
                    wait_tasks=True),
         200),
    Case("supervisor_status_kinesis_200.json",
         supervisor(kinesis_spec(), f"{IX}/supervisor/{{id}}/status", wait_tasks=True), 200),
    Case("supervisor_status_unhealthy_200.json",
         supervisor(kafka_spec("wikipedia_stream"), f"{IX}/supervisor/{{id}}/status"), 200,
         sim={"faults": Faults(unhealthy_supervisors=["wikipedia_stream"])}),
    Case("supervisor_health_200.json", supervisor(kafka_spec(), f"{IX}/supervisor/{{id}}/health"),
         200, exact=True),
    Case("supervisor_health_503.json",
         supervisor(kafka_spec("wikipedia_stream"), f"{IX}/supervisor/{{id}}/health"), 503,
         sim={"faults": Faults(unhealthy_supervisors=["wikipedia_stream"])}, exact=True),
    Case("supervisor_404_unknown_id.txt", get(f"{IX}/supervisor/no_such_supervisor/status"), 404,
         "text/plain", exact=True, portable=True),
    Case("supervisor_suspend_400_already.json", suspended_twice(kafka_spec()), 400, exact=True),
    Case("supervisor_terminate_200.json",
         supervisor(kafka_spec(), f"POST {IX}/supervisor/{{id}}/terminate"), 200, exact=True),
    Case("supervisor_bulk_action_200.json", post(f"{IX}/supervisor/suspendAll"), 200, exact=True,
         portable=True),
    Case("supervisor_stats_200.json",
         supervisor(kafka_spec(), f"{IX}/supervisor/{{id}}/stats", wait_tasks=True), 200,
         maps=frozenset({"$.<0>"})),
    Case("supervisor_post_400_unknown_type.json",
         post(f"{IX}/supervisor", {"type": "KafkaSupervisorSpec"}), 400,
         sim={"supervisor_types": []}, exact=True),
    Case("coordinator_datasource_simple_200.json",
         lambda t: covered(t, "/druid/coordinator/v1/datasources/wikipedia"), 200),
    Case("coordinator_datasource_intervals_200.json",
         lambda t: covered(t, "/druid/coordinator/v1/datasources/wikipedia/intervals"), 200,
         exact=True),
    Case("coordinator_datasource_intervals_simple_200.json",
         lambda t: covered(t, "/druid/coordinator/v1/datasources/wikipedia/intervals?simple"),
         200),
]
# fmt: on


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
