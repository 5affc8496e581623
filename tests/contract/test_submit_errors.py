"""How `POST /task` fails, and how the client names each failure: duplicate ids in every
Druid version's wording, invalid ids and specs, unsupported content, a full queue."""

from __future__ import annotations

import pytest

from overlord.client import HttpOverlord
from overlord.errors import (
    OverlordRejectedError,
    OverlordUnavailableError,
    TaskAlreadyExistsError,
)
from overlord.sim.server import SimConfig

from .conftest import MakeTarget, Target, fast_cluster, noop, unique_id
from .support import Canned, ReplayServer, eventually, fixture_bytes


async def test_resubmitting_a_running_task_id_is_recognised_as_already_submitted(
    target: Target,
) -> None:
    client = target.client()
    task_id = await client.submit(noop(unique_id("dup"), run_ms=60_000))
    try:
        with pytest.raises(TaskAlreadyExistsError) as caught:
            await client.submit(noop(task_id))
        assert caught.value.task_id == task_id
        assert caught.value.status == 400
        assert not caught.value.retryable
    finally:
        await client.shutdown(task_id)


@pytest.mark.parametrize(
    ("version", "error_code", "message"),
    [
        (36, "entryAlreadyExists", "Task[{id}] already exists"),
        (28, None, "Task [{id}] already exists."),
        (26, None, "Task[{id}] already exists!"),
    ],
)
async def test_a_completed_task_id_is_refused_as_a_duplicate_in_each_versions_wording(
    make_target: MakeTarget, version: int, error_code: str | None, message: str
) -> None:
    target = await make_target(SimConfig(cluster=fast_cluster(druid_version=version)))
    client = target.client()
    task_id = await client.submit(noop("finished_task", run_ms=5))
    await eventually(lambda: client.status(task_id), lambda s: s.status_code == "SUCCESS")
    with pytest.raises(TaskAlreadyExistsError) as caught:
        await client.submit(noop(task_id))
    assert caught.value.error_code == error_code
    assert caught.value.druid_message == message.format(id=task_id)
    assert target.need_sim().stats()["duplicate_submissions"] == 1


async def test_the_race_form_of_a_duplicate_id_is_also_already_submitted(
    replay_client: tuple[ReplayServer, HttpOverlord],
) -> None:
    canned, client = replay_client
    canned.push(Canned(400, fixture_bytes("task_submit_400_duplicate_id_race_druid30plus.json")))
    with pytest.raises(TaskAlreadyExistsError) as caught:
        await client.submit(noop("x"))
    assert caught.value.error_code == "invalidInput"
    assert caught.value.task_id == "index_parallel_wikipedia_odofhkle_2023-06-23T21:07:28.226Z"


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (noop("bad/id"), "Value [bad/id] cannot contain '/'."),
        (noop(".hidden"), "cannot start with '.'."),
        (noop("tab\there"), "contains illegal whitespace characters"),
        ({"type": "index_parallell", "spec": {}}, "Could not resolve type id 'index_parallell'"),
        ({"id": "no_type_at_all"}, "missing type id property 'type'"),
    ],
)
async def test_an_invalid_spec_is_rejected_with_druids_message_and_not_retried(
    target: Target, spec: dict[str, object], fragment: str
) -> None:
    client = target.client()
    with pytest.raises(OverlordRejectedError) as caught:
        await client.submit(spec)
    error = caught.value
    assert error.status == 400
    assert error.druid_message is not None
    assert fragment in error.druid_message
    assert error.endpoint == "submit"
    assert not isinstance(error, TaskAlreadyExistsError)
    if target.sim is not None:
        assert target.sim.requests["submit"] == 1, "a 400 is final"


async def test_a_submission_that_is_not_json_gets_415(target: Target) -> None:
    raw = await target.raw(
        "POST",
        "/druid/indexer/v1/task",
        data=b'{"type": "noop"}',
        headers={"Content-Type": "text/plain"},
    )
    assert raw.status == 415


async def test_a_full_task_queue_answers_429_which_is_retried_and_then_reported_as_unavailable(
    make_target: MakeTarget,
) -> None:
    target = await make_target(SimConfig(cluster=fast_cluster(queue_max_size=1)))
    client = target.client()
    await client.submit(noop("occupies_the_queue", run_ms=60_000))
    with pytest.raises(OverlordUnavailableError) as caught:
        await client.submit(noop("finds_it_full"))
    error = caught.value
    assert error.status == 429
    assert error.error_code == "general"
    assert error.retryable
    assert not error.maybe_applied, "a 429 is answered before the task is stored"
    assert error.druid_message is not None
    assert "Task queue already contains [1] tasks" in error.druid_message
    assert target.need_sim().requests["submit"] == 1 + 3  # each retry was refused too


async def test_a_full_queue_still_says_already_exists_to_a_retried_submit_and_400_to_a_bad_one(
    make_target: MakeTarget,
) -> None:
    # TaskQueue.add looks at its size last: a retry of a submit that landed must learn that
    # it landed, not that the queue is full.
    target = await make_target(SimConfig(cluster=fast_cluster(queue_max_size=1)))
    client = target.client()
    await client.submit(noop("occupies_the_queue", run_ms=60_000))
    with pytest.raises(TaskAlreadyExistsError):
        await client.submit(noop("occupies_the_queue", run_ms=60_000))
    with pytest.raises(OverlordRejectedError) as caught:
        await client.submit({"type": "no_such_type", "id": "x"})
    assert caught.value.status == 400
