"""The client against the real bodies themselves: each fixture, served as Druid serves it,
decodes into our models (or becomes the error it should). This covers bodies the simulator
does not produce (races, older versions, the docs' samples)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from overlord.client import HttpOverlord
from overlord.errors import (
    OverlordAuthError,
    OverlordRejectedError,
    OverlordUnavailableError,
    SupervisorNotFoundError,
    TaskAlreadyExistsError,
    TaskNotFoundError,
)
from overlord.models import SupervisorStatus, TaskStatusPlus

from .support import Canned, ReplayServer, fixture_bytes

Call = Callable[[HttpOverlord], Awaitable[Any]]
Replay = tuple[ReplayServer, HttpOverlord]
TEXT = "text/plain"

DECODES: list[tuple[str, int, str | None, Call]] = [
    ("task_submit_200.json", 200, None, lambda c: c.submit({"type": "noop"})),
    ("task_status_running.json", 200, None, lambda c: c.status("t")),
    ("task_status_pending.json", 200, None, lambda c: c.status("t")),
    ("task_status_waiting_for_locks.json", 200, None, lambda c: c.status("t")),
    ("task_status_success.json", 200, None, lambda c: c.status("t")),
    ("task_status_failed.json", 200, None, lambda c: c.status("t")),
    ("task_status_failed_user_shutdown.json", 200, None, lambda c: c.status("t")),
    ("task_status_bulk_200.json", 200, None, lambda c: c.bulk_status(["a"])),
    ("task_status_bulk_200_mixed_unknown_omitted.json", 200, None, lambda c: c.bulk_status(["a"])),
    ("task_status_bulk_200_all_unknown.json", 200, None, lambda c: c.bulk_status(["a"])),
    ("tasks_list_all_mixed.json", 200, None, lambda c: c.tasks()),
    ("tasks_list_complete.json", 200, None, lambda c: c.tasks()),
    ("tasks_list_pending.json", 200, None, lambda c: c.tasks()),
    ("tasks_list_running.json", 200, None, lambda c: c.tasks()),
    ("tasks_list_waiting.json", 200, None, lambda c: c.tasks()),
    ("tasks_list_empty.json", 200, None, lambda c: c.tasks()),
    ("task_payload_200.json", 200, None, lambda c: c.task_spec("t")),
    ("task_report_success_sequential.json", 200, None, lambda c: c.task_reports("t")),
    ("task_report_success_sequential_current.json", 200, None, lambda c: c.task_reports("t")),
    ("task_report_success_parallel.json", 200, None, lambda c: c.task_reports("t")),
    ("task_report_failed_parallel.json", 200, None, lambda c: c.task_reports("t")),
    ("task_report_failed_index_parse_exceptions.json", 200, None, lambda c: c.task_reports("t")),
    ("task_report_live_running.json", 200, None, lambda c: c.task_reports("t")),
    ("task_report_kafka_completed.json", 200, None, lambda c: c.task_reports("t")),
    ("task_shutdown_200.json", 200, None, lambda c: c.shutdown("t")),
    ("datasource_shutdown_all_200.json", 200, None, lambda c: c.shutdown_all("d")),
    ("workers_list_200.json", 200, None, lambda c: c.workers()),
    ("workers_list_200_docs_sample.json", 200, None, lambda c: c.workers()),
    ("total_worker_capacity_200.json", 200, None, lambda c: c.total_capacity()),
    ("locked_intervals_v2_200.json", 200, None, lambda c: c.locked_intervals([{}])),
    ("active_locks_200.json", 200, None, lambda c: c.active_locks([{}])),
    ("leader_200.txt", 200, None, lambda c: c.leader()),
    ("is_leader_200.json", 200, None, lambda c: c.is_leader()),
    ("is_leader_404.json", 404, None, lambda c: c.is_leader()),
    ("status_health_200.json", 200, None, lambda c: c.health()),
    ("supervisor_ids_200.json", 200, None, lambda c: c.supervisors()),
    ("supervisor_states_200.json", 200, None, lambda c: c.supervisor_states()),
    ("supervisor_status_kafka_200.json", 200, None, lambda c: c.supervisor_status("s")),
    ("supervisor_status_kafka_docs_sample.json", 200, None, lambda c: c.supervisor_status("s")),
    ("supervisor_status_kafka_time_lag_200.json", 200, None, lambda c: c.supervisor_status("s")),
    ("supervisor_status_kinesis_200.json", 200, None, lambda c: c.supervisor_status("s")),
    ("supervisor_status_unhealthy_200.json", 200, None, lambda c: c.supervisor_status("s")),
    ("supervisor_create_200_druid38plus.json", 200, None, lambda c: c.create_supervisor({})),
    ("supervisor_create_200_legacy.json", 200, None, lambda c: c.create_supervisor({})),
    ("supervisor_health_200.json", 200, None, lambda c: c.supervisor_health("s")),
    ("supervisor_health_503.json", 503, None, lambda c: c.supervisor_health("s")),
    ("supervisor_terminate_200.json", 200, None, lambda c: c.terminate_supervisor("s")),
    ("coordinator_datasource_simple_200.json", 200, None, lambda c: c.datasource_coverage("w")),
    ("coordinator_datasource_intervals_200.json", 200, None, lambda c: c.datasource_intervals("w")),
    ("datasource_shutdown_all_404_empty.txt", 404, None, lambda c: c.shutdown_all("d")),
    ("task_reports_404.txt", 404, TEXT, lambda c: c.reports("t")),
    ("task_log_404.txt", 404, TEXT, lambda c: c.log("t")),
    ("task_log_200_excerpt.txt", 200, TEXT, lambda c: c.log("t")),
]

FAILS: list[tuple[str, int, str | None, Call, type[Exception]]] = [
    (
        "task_submit_400_duplicate_id_druid30plus.json",
        400,
        None,
        lambda c: c.submit({}),
        TaskAlreadyExistsError,
    ),
    (
        "task_submit_400_duplicate_id_druid27to29.json",
        400,
        None,
        lambda c: c.submit({}),
        TaskAlreadyExistsError,
    ),
    (
        "task_submit_400_duplicate_id_pre27.json",
        400,
        None,
        lambda c: c.submit({}),
        TaskAlreadyExistsError,
    ),
    (
        "task_submit_400_duplicate_id_race_druid30plus.json",
        400,
        None,
        lambda c: c.submit({}),
        TaskAlreadyExistsError,
    ),
    (
        "task_submit_400_invalid_task_id.json",
        400,
        None,
        lambda c: c.submit({}),
        OverlordRejectedError,
    ),
    (
        "task_submit_400_parser_removed_druid37plus.json",
        400,
        None,
        lambda c: c.submit({}),
        OverlordRejectedError,
    ),
    (
        "task_submit_400_payload_too_large.json",
        400,
        None,
        lambda c: c.submit({}),
        OverlordRejectedError,
    ),
    (
        "task_submit_400_unknown_task_type.json",
        400,
        None,
        lambda c: c.submit({}),
        OverlordRejectedError,
    ),
    (
        "error_400_json_mapping_missing_type.json",
        400,
        None,
        lambda c: c.submit({}),
        OverlordRejectedError,
    ),
    (
        "task_submit_429_queue_full.json",
        429,
        None,
        lambda c: c.submit({}),
        OverlordUnavailableError,
    ),
    ("task_status_404_unknown_id.txt", 404, TEXT, lambda c: c.status("t"), TaskNotFoundError),
    ("task_status_404_resource_level.json", 404, None, lambda c: c.status("t"), TaskNotFoundError),
    (
        "task_status_bulk_400_empty.txt",
        400,
        None,
        lambda c: c.bulk_status(["a"]),
        OverlordRejectedError,
    ),
    ("tasks_list_400_invalid_state.txt", 400, TEXT, lambda c: c.tasks(), OverlordRejectedError),
    ("task_segments_404.json", 404, None, lambda c: c.reports("t"), OverlordRejectedError),
    ("error_401_no_credentials.json", 401, None, lambda c: c.tasks(), OverlordAuthError),
    ("error_403_forbidden.json", 403, None, lambda c: c.tasks(), OverlordAuthError),
    ("error_403_tasks_datasource.txt", 403, TEXT, lambda c: c.tasks(), OverlordAuthError),
    (
        "error_500_no_worker_listing.json",
        500,
        None,
        lambda c: c.workers(),
        OverlordUnavailableError,
    ),
    ("error_503_not_leader_empty.txt", 503, None, lambda c: c.tasks(), OverlordUnavailableError),
    ("router_503_no_leader.json", 503, None, lambda c: c.tasks(), OverlordUnavailableError),
    (
        "supervisor_404_unknown_id.txt",
        404,
        TEXT,
        lambda c: c.supervisor_status("no_such_supervisor"),
        SupervisorNotFoundError,
    ),
    (
        "supervisor_suspend_400_already.json",
        400,
        None,
        lambda c: c.suspend_supervisor("s"),
        OverlordRejectedError,
    ),
    (
        "supervisor_post_400_unknown_type.json",
        400,
        None,
        lambda c: c.create_supervisor({}),
        OverlordRejectedError,
    ),
]


@pytest.mark.parametrize(
    ("fixture", "status", "content_type", "call"), DECODES, ids=[d[0] for d in DECODES]
)
async def test_the_client_decodes_the_real_body(
    replay_client: Replay, fixture: str, status: int, content_type: str | None, call: Call
) -> None:
    canned, client = replay_client
    canned.push(Canned(status, fixture_bytes(fixture), content_type or "application/json"))
    result = await call(client)
    if fixture.startswith("task_status_") and "bulk" not in fixture:
        assert isinstance(result, TaskStatusPlus)
    if fixture.startswith("supervisor_status"):
        assert isinstance(result, SupervisorStatus)


@pytest.mark.parametrize(
    ("fixture", "status", "content_type", "call", "error"), FAILS, ids=[f[0] for f in FAILS]
)
async def test_an_error_body_becomes_the_right_typed_error(
    replay_client: Replay,
    fixture: str,
    status: int,
    content_type: str | None,
    call: Call,
    error: type[Exception],
) -> None:
    canned, client = replay_client
    body = fixture_bytes(fixture)
    canned.default = Canned(status, body, content_type or "application/json")
    with pytest.raises(error) as caught:
        await call(client)
    assert getattr(caught.value, "status", None) == status
    assert getattr(caught.value, "body_snippet", None) == body[:300].decode()


async def test_decoded_fixtures_carry_the_values_the_actors_rely_on(replay_client: Replay) -> None:
    canned, client = replay_client
    canned.push(Canned(200, fixture_bytes("task_status_bulk_200_mixed_unknown_omitted.json")))
    bulk = await client.bulk_status(["a"])
    failed = bulk["index_parallel_wikipedia_auto_jbgiianh_2023-06-26T23:17:56.769Z"]
    assert failed.status == "FAILED"
    assert failed.location.describe() == "localhost:8100"
    canned.push(Canned(200, fixture_bytes("task_report_failed_parallel.json")))
    report = await client.task_reports("t")
    assert report is not None
    assert report.ingestion is not None
    assert report.ingestion.payload.ingestion_state == "COMPLETED"
    assert report.ingestion.payload.phase_totals()["buildSegments"].unparseable == 1
    canned.push(Canned(200, fixture_bytes("workers_list_200.json")))
    [worker] = await client.workers()
    assert worker.free_slots == 1
    canned.push(Canned(200, fixture_bytes("supervisor_status_kinesis_200.json")))
    kinesis = await client.supervisor_status("s")
    assert kinesis.payload.aggregate_lag_millis == 2300
