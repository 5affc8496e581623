"""Supervisor endpoints: create/update, list (plain and ?state=true), status payloads for
Kafka and Kinesis, spec, health, suspend/resume/terminate, and the 404/400 answers."""

from __future__ import annotations

import pytest

from overlord.errors import OverlordRejectedError, SupervisorNotFoundError
from overlord.sim.server import Faults, SimConfig

from .conftest import MakeTarget, fast_cluster
from .support import eventually


def kafka_spec(datasource: str = "social_media", **io: object) -> dict[str, object]:
    return {
        "type": "kafka",
        "spec": {
            "dataSchema": {
                "dataSource": datasource,
                "timestampSpec": {"column": "ts", "format": "iso"},
                "dimensionsSpec": {"dimensions": ["user"]},
                "granularitySpec": {"segmentGranularity": "HOUR"},
            },
            "ioConfig": {
                "topic": datasource,
                "consumerProperties": {"bootstrap.servers": "kafka:9092"},
                "inputFormat": {"type": "json"},
                "taskDuration": "PT0.3S",
                **io,
            },
            "tuningConfig": {"type": "kafka"},
        },
    }


def kinesis_spec() -> dict[str, object]:
    return {
        "type": "kinesis",
        "dataSchema": {"dataSource": "metrics-kinesis"},
        "ioConfig": {"stream": "metrics", "endpoint": "kinesis.us-east-1.amazonaws.com"},
        "tuningConfig": {"type": "kinesis"},
    }


async def test_a_supervisor_runs_streaming_tasks_and_reports_kafka_offsets_and_lag(
    make_target: MakeTarget,
) -> None:
    target = await make_target(SimConfig(cluster=fast_cluster(druid_version=38)))
    client = target.client()
    created = await client.create_supervisor(kafka_spec(emitTimeLagMetrics=True))
    assert (created.id, created.modified, created.restarted) == ("social_media", True, True)
    assert await client.supervisors() == ["social_media"]
    status = await eventually(
        lambda: client.supervisor_status("social_media"),
        lambda s: any(t.start_time for t in s.payload.active_tasks),
    )
    payload = status.payload
    assert payload.id == "social_media"
    assert (payload.state, payload.detailed_state, payload.healthy) == ("RUNNING", "RUNNING", True)
    assert payload.stream == "social_media"
    assert payload.partitions == 2
    assert set(payload.latest_offsets or {}) == {"0", "1"}
    assert payload.aggregate_lag == sum((payload.minimum_lag or {}).values())
    assert payload.minimum_lag_millis is not None
    task = payload.active_tasks[0]
    assert task.id.startswith("index_kafka_social_media_")
    assert task.type == "ACTIVE"
    # Streaming tasks are tasks like any other: listed, in slots, with a streaming report.
    rows = await client.tasks(task_type="index_kafka")
    assert task.id in {r.id for r in rows}
    finished = await eventually(
        lambda: client.tasks(task_type="index_kafka", state="complete"), lambda r: len(r) > 0
    )
    report = await client.task_reports(finished[0].id)
    assert report is not None
    assert report.ingestion is not None
    assert set(report.ingestion.payload.row_stats) == {"buildSegments"}
    assert report.ingestion.payload.records_processed == {"0": 5000, "1": 5000}
    states = await client.supervisor_states()
    assert [(s.id, s.state, s.data_source) for s in states] == [
        ("social_media", "RUNNING", "social_media")
    ]


async def test_a_kinesis_status_has_time_lag_and_string_sequence_numbers(
    make_target: MakeTarget,
) -> None:
    target = await make_target()
    client = target.client()
    assert (await client.create_supervisor(kinesis_spec())).id == "metrics-kinesis"
    status = await eventually(
        lambda: client.supervisor_status("metrics-kinesis"),
        lambda s: any(t.current_offsets for t in s.payload.active_tasks),
    )
    payload = status.payload
    assert payload.latest_offsets is None
    assert payload.aggregate_lag is None
    assert payload.aggregate_lag_millis is not None
    offsets = payload.active_tasks[0].current_offsets or {}
    assert set(offsets) == {"shardId-000000000000", "shardId-000000000001"}
    assert all(isinstance(v, str) for v in offsets.values())


async def test_suspend_and_resume_return_the_spec_and_refuse_to_repeat_themselves(
    make_target: MakeTarget,
) -> None:
    target = await make_target()
    client = target.client()
    await client.create_supervisor(kafka_spec())
    spec = await client.suspend_supervisor("social_media")
    assert spec["suspended"] is True
    assert spec["spec"]["ioConfig"]["topic"] == "social_media"
    with pytest.raises(OverlordRejectedError) as caught:
        await client.suspend_supervisor("social_media")
    assert caught.value.druid_message == "[social_media] is already suspended"
    status = await client.supervisor_status("social_media")
    assert status.payload.state == "SUSPENDED"
    assert status.payload.active_tasks == []
    assert status.payload.latest_offsets is None, "unknown offsets are omitted while suspended"
    [row] = await client.supervisor_states()
    assert row.state == "SUSPENDED"
    assert row.suspended is False, "only filled in with ?system"
    assert (await client.resume_supervisor("social_media"))["suspended"] is False
    with pytest.raises(OverlordRejectedError) as again:
        await client.resume_supervisor("social_media")
    assert again.value.druid_message == "[social_media] is already running"


async def test_terminating_a_supervisor_removes_it_and_unknown_ids_answer_404_text(
    make_target: MakeTarget,
) -> None:
    target = await make_target()
    client = target.client()
    await client.create_supervisor(kafka_spec())
    await client.terminate_supervisor("social_media")
    assert await client.supervisors() == []
    for call in ("supervisor_status", "supervisor_spec", "supervisor_health"):
        with pytest.raises(SupervisorNotFoundError) as caught:
            await getattr(client, call)("social_media")
        assert caught.value.supervisor_id == "social_media"
        assert caught.value.druid_message == "Cannot find any supervisor with id: [social_media]"
    raw = await target.raw("POST", "/druid/indexer/v1/supervisor/terminateAll")
    assert raw.json() == {"status": "success"}


async def test_an_unhealthy_supervisor_says_so_in_status_and_health(
    make_target: MakeTarget,
) -> None:
    target = await make_target()
    client = target.client()
    await client.create_supervisor(kafka_spec("wikipedia_stream"))
    target.need_sim().set_faults(Faults(unhealthy_supervisors=["wikipedia_stream"]))
    assert await client.supervisor_health("wikipedia_stream") is False
    payload = (await client.supervisor_status("wikipedia_stream")).payload
    assert (payload.state, payload.detailed_state) == (
        "UNHEALTHY_SUPERVISOR",
        "UNABLE_TO_CONNECT_TO_STREAM",
    )
    assert payload.recent_errors[0].stream_exception is True
    target.need_sim().set_faults(Faults())
    assert await client.supervisor_health("wikipedia_stream") is True


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"type": "KafkaSupervisorSpec"}, "Could not resolve type id 'KafkaSupervisorSpec'"),
        ({"dataSchema": {}}, "missing type id property 'type'"),
        ({"type": "kafka", "spec": {"dataSchema": {}}}, "[dataSource]: must not be null"),
        ({"type": "kafka", "dataSchema": {"dataSource": "x"}}, "topic or topicPattern"),
    ],
)
async def test_an_invalid_supervisor_spec_is_refused_with_a_400(
    make_target: MakeTarget, spec: dict[str, object], fragment: str
) -> None:
    target = await make_target()
    with pytest.raises(OverlordRejectedError) as caught:
        await target.client().create_supervisor(spec)
    assert caught.value.status == 400
    assert fragment in (caught.value.druid_message or "")


async def test_reposting_an_unchanged_spec_can_skip_the_restart(make_target: MakeTarget) -> None:
    target = await make_target(SimConfig(cluster=fast_cluster(druid_version=38)))
    client = target.client()
    await client.create_supervisor(kafka_spec())
    again = await client.create_supervisor(kafka_spec(), skip_restart_if_unmodified=True)
    assert (again.modified, again.restarted) == (False, False)
    changed = await client.create_supervisor(kafka_spec(taskCount=2))
    assert (changed.modified, changed.restarted) == (True, True)
    legacy = await make_target(SimConfig(cluster=fast_cluster(druid_version=37)))
    created = await legacy.client().create_supervisor(kafka_spec())
    assert (created.id, created.modified, created.restarted) == ("social_media", None, None)
