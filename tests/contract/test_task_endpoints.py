"""The client against the Overlord (simulated, or real with --overlord) for every task
endpoint: submit, status, bulk status, list, stored spec, reports, log, shutdown."""

from __future__ import annotations

import re

import pytest

from overlord.errors import OverlordRejectedError, TaskNotFoundError
from overlord.sim.server import SimConfig

from .conftest import CONTRACT_DATASOURCE, MakeTarget, Target, fast_cluster, noop, unique_id
from .support import eventually

GENERATED_ID = re.compile(
    rf"^noop_{CONTRACT_DATASOURCE}_[a-p]{{8}}_\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z$"
)


async def finished(target: Target, task_id: str) -> str:
    client = target.client()
    status = await eventually(
        lambda: client.status(task_id),
        lambda s: s.status_code != "RUNNING",
        timeout_s=target.wait_s,
    )
    return status.status_code


async def test_a_task_submitted_with_our_id_keeps_it_and_runs_to_success(target: Target) -> None:
    client = target.client()
    task_id = unique_id("own")
    assert await client.submit(noop(task_id)) == task_id
    first = await client.status(task_id)
    assert first.id == task_id
    assert first.group_id == task_id
    assert first.type == "noop"
    assert first.data_source == CONTRACT_DATASOURCE
    assert await finished(target, task_id) == "SUCCESS"
    done = await client.status(task_id)
    # /task/{id}/status: epoch queue time; WAITING once the runner forgot (NONE just after).
    assert done.queue_insertion_time == "1970-01-01T00:00:00.000Z"
    assert done.runner_status_code in ("WAITING", "NONE")
    assert done.duration >= 0


async def test_a_task_without_an_id_gets_one_in_druids_generated_format(target: Target) -> None:
    task_id = await target.client().submit(noop())
    assert GENERATED_ID.match(task_id), task_id
    await finished(target, task_id)


async def test_bulk_status_answers_known_ids_and_silently_leaves_out_unknown_ones(
    target: Target,
) -> None:
    client = target.client()
    known = [await client.submit(noop(unique_id(f"bulk{n}"))) for n in range(3)]
    answer = await client.bulk_status([*known, "no_such_task_anywhere", known[0]])
    assert set(answer) == set(known)
    assert all(answer[i].id == i and answer[i].status in ("RUNNING", "SUCCESS") for i in known)
    assert await client.bulk_status(["no_such_task_anywhere"]) == {}
    for task_id in known:
        await finished(target, task_id)


async def test_bulk_status_of_no_ids_asks_nothing_while_the_overlord_refuses_an_empty_list(
    target: Target,
) -> None:
    client = target.client()
    assert await client.bulk_status([]) == {}
    raw = await target.raw("POST", "/druid/indexer/v1/taskStatus", body=[])
    assert raw.status == 400
    assert raw.body == b"No Task IDs provided."
    plain = {"Content-Type": "text/plain"}
    unsupported = await target.raw(
        "POST", "/druid/indexer/v1/taskStatus", data=b'["x"]', headers=plain
    )
    assert unsupported.status == 415


async def test_the_task_list_shows_completed_tasks_newest_first_then_active_ones(
    target: Target,
) -> None:
    client = target.client()
    done = [await client.submit(noop(unique_id(f"done{n}"), run_ms=10)) for n in range(3)]
    for task_id in done:
        await finished(target, task_id)
    running = [await client.submit(noop(unique_id(f"run{n}"), run_ms=60_000)) for n in range(2)]
    try:
        rows = await client.tasks(datasource=CONTRACT_DATASOURCE)
        ids = [r.id for r in rows]
        complete = [r for r in rows if r.status_code != "RUNNING"]
        active = [r for r in rows if r.status_code == "RUNNING"]
        assert rows == complete + active, "completed rows come first"
        created = [r.created_time or "" for r in complete]
        assert created == sorted(created, reverse=True)
        assert set(done) <= set(ids)
        assert set(running) <= {r.id for r in active}
        assert all(r.runner_status_code == "NONE" for r in complete)
        assert all(
            r.queue_insertion_time == "1970-01-01T00:00:00.000Z"
            for r in rows
            if r.runner_status_code in ("WAITING", "NONE")
        )
        only_active = await client.tasks(datasource=CONTRACT_DATASOURCE, max_complete=0)
        assert {r.id for r in only_active} == {r.id for r in active}
        newest = await client.tasks(
            datasource=CONTRACT_DATASOURCE, state="complete", max_complete=1
        )
        assert [r.id for r in newest] == [complete[0].id]
        typed = await client.tasks(datasource=CONTRACT_DATASOURCE, task_type="index_parallel")
        assert typed == []
    finally:
        for task_id in running:
            await client.shutdown(task_id)


async def test_created_time_interval_counts_only_its_length_back_from_now(target: Target) -> None:
    client = target.client()
    task_id = await client.submit(noop(unique_id("window"), run_ms=10))
    await finished(target, task_id)
    # A day-long interval in the year 2000 still means "created within the last day".
    recent = await client.tasks(
        state="complete", datasource=CONTRACT_DATASOURCE, created_within="2000-01-01_2000-01-02"
    )
    assert task_id in {r.id for r in recent}
    tiny = await client.tasks(
        state="complete",
        datasource=CONTRACT_DATASOURCE,
        created_within="2000-01-01T00:00:00.000Z_2000-01-01T00:00:00.001Z",
    )
    assert task_id not in {r.id for r in tiny}


async def test_an_unknown_state_filter_is_refused_with_druids_plain_text(target: Target) -> None:
    raw = await target.raw("GET", "/druid/indexer/v1/tasks?state=done")
    assert raw.status == 400
    assert raw.body.decode() == (
        "Invalid task state[done]. Must be one of [pending, waiting, running, complete]."
    )
    with pytest.raises(OverlordRejectedError) as caught:
        await target.client().tasks(state="done")  # type: ignore[arg-type]
    assert caught.value.status == 400
    assert caught.value.druid_message is not None
    assert "Invalid task state[done]" in caught.value.druid_message


async def test_the_stored_spec_carries_the_context_defaults_the_overlord_adds(
    target: Target,
) -> None:
    client = target.client()
    task_id = await client.submit(noop(unique_id("spec"), context={"priority": 7}))
    payload = await client.task_spec(task_id)
    assert payload["id"] == task_id
    assert payload["type"] == "noop"
    context = payload["context"]
    assert context["priority"] == 7
    assert context["forceTimeChunkLock"] is True
    assert context["useLineageBasedSegmentAllocation"] is True
    await finished(target, task_id)


async def test_unknown_spec_keys_are_ignored_rather_than_refused(target: Target) -> None:
    client = target.client()
    task_id = await client.submit(noop(unique_id("extra"), notAKnownKey={"x": 1}))
    assert await finished(target, task_id) == "SUCCESS"


async def test_the_log_reads_from_a_byte_offset_and_its_tail(target: Target) -> None:
    client = target.client()
    task_id = await client.submit(noop(unique_id("log"), run_ms=10))
    await finished(target, task_id)
    whole = await eventually(lambda: client.log_bytes(task_id), lambda b: bool(b), timeout_s=30)
    assert whole
    assert await client.log_bytes(task_id, 5) == whole[5:]
    assert await client.log_bytes(task_id, -10) == whole[-10:]
    assert await client.log_bytes(task_id, len(whole) + 100) == b""
    assert await client.log(task_id) == whole.decode()


async def test_an_accept_header_that_excludes_what_an_endpoint_produces_gets_406(
    target: Target,
) -> None:
    task_id = await target.client().submit(noop(unique_id("accept"), run_ms=10))
    await finished(target, task_id)
    log_path = f"/druid/indexer/v1/task/{task_id}/log"
    status_path = f"/druid/indexer/v1/task/{task_id}/status"
    json_only = {"Accept": "application/json"}
    assert (await target.raw("GET", log_path, headers=json_only)).status == 406
    assert (await target.raw("GET", status_path, headers={"Accept": "text/plain"})).status == 406
    for headers in ({"Accept": "text/plain"}, {"Accept": "text/plain, */*"}):
        assert (await target.raw("GET", log_path, headers=headers)).status == 200
    assert (await target.raw("GET", status_path, headers=json_only)).status == 200
    for path in (log_path, status_path):
        bare = await target.raw("GET", path, skip_auto_headers=("Accept",))
        assert bare.status == 200, "no Accept header accepts anything"


async def test_shutting_down_a_running_task_fails_it_at_once_and_a_finished_one_is_left_alone(
    target: Target,
) -> None:
    client = target.client()
    task_id = await client.submit(noop(unique_id("stop"), run_ms=60_000))
    await client.shutdown(task_id)
    status = await client.status(task_id)
    assert status.status_code == "FAILED"
    assert status.error_msg == "Shutdown request from user"
    assert status.duration == -1
    await client.shutdown(task_id)  # finished: 200, nothing changes
    assert (await client.status(task_id)).error_msg == "Shutdown request from user"


async def test_shutdown_all_stops_a_datasources_active_tasks_and_says_when_there_were_none(
    target: Target,
) -> None:
    client = target.client()
    datasource = unique_id("ds")
    ids = [await client.submit(noop(run_ms=60_000, dataSource=datasource)) for _ in range(2)]
    assert await client.shutdown_all(datasource) is True
    states = await client.bulk_status(ids)
    assert {s.status for s in states.values()} == {"FAILED"}
    assert await client.shutdown_all(datasource) is False


@pytest.mark.parametrize("call", ["status", "task_spec", "reports", "log", "shutdown"])
async def test_every_task_path_answers_an_unknown_id_with_task_not_found(
    target: Target, call: str
) -> None:
    client = target.client()
    missing = unique_id("missing")
    with pytest.raises(TaskNotFoundError) as caught:
        await getattr(client, call)(missing)
    assert caught.value.task_id == missing
    assert caught.value.status == 404
    assert caught.value.druid_message == f"Cannot find any task with id: [{missing}]"
    assert not caught.value.retryable


async def test_completed_tasks_leave_the_default_list_after_the_recently_finished_window(
    make_target: MakeTarget,
) -> None:
    # Druid's window is 24 h (druid.indexer.storage.recentlyFinishedThreshold); shrunk here.
    target = await make_target(SimConfig(cluster=fast_cluster(recently_finished_s=0.2)))
    client = target.client()
    task_id = await client.submit(noop("aged_out", run_ms=5))
    await finished(target, task_id)
    assert [r.id for r in await client.tasks()] == [task_id]
    await eventually(client.tasks, lambda rows: rows == [])
    older = await client.tasks(created_within="2000-01-01_2000-01-02")
    assert [r.id for r in older] == [task_id], "an explicit window still finds it"
    assert (await client.status(task_id)).status_code == "SUCCESS", "status always finds it"


async def test_the_legacy_list_endpoints_honour_only_their_own_parameters(
    make_target: MakeTarget,
) -> None:
    target = await make_target(SimConfig(cluster=fast_cluster(workers=1, capacity_per_worker=1)))
    client = target.client()
    done = [await client.submit(noop(f"old{n}", run_ms=5)) for n in range(3)]
    for task_id in done:
        await finished(target, task_id)
    running = await client.submit(noop("runs", run_ms=60_000))
    pending = await client.submit(noop("queued", run_ms=60_000))
    await eventually(lambda: client.status(pending), lambda s: s.runner_status_code == "PENDING")

    async def ids(path: str) -> list[str]:
        return [row["id"] for row in (await target.raw("GET", f"/druid/indexer/v1/{path}")).json()]

    assert await ids("runningTasks") == [running]
    assert await ids("runningTasks?type=index") == []
    assert await ids("pendingTasks?datasource=elsewhere") == [pending], "filters are ignored"
    assert await ids("waitingTasks") == []
    assert await ids("completeTasks?n=2") == list(reversed(done))[:2]
    assert await ids("completeTasks?max=1") == list(reversed(done)), "`max` is not read here"


async def test_answers_are_compact_json_with_nulls_written_out(target: Target) -> None:
    task_id = await target.client().submit(noop(unique_id("compact"), run_ms=60_000))
    raw = await target.raw("GET", f"/druid/indexer/v1/task/{task_id}/status")
    assert b'"errorMsg":null' in raw.body
    assert b": " not in raw.body
    assert b"\n" not in raw.body
    await target.client().shutdown(task_id)
