"""Supervisors' streams in event time: the frontier their tasks read to, the segments they
hand off at taskDuration (Coordinator coverage), batch tasks that run where a stream still
writes (`batch_stream_overlaps`), and stream faults as the status payload shows them.

Driven by the simulator's injected wall clock: a test moves time, then ends the streaming
tasks as their taskDuration timer would (`expire`), so nothing waits on real time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from overlord.sim.cluster import ClusterConfig
from overlord.sim.scenario import ScenarioError, load_scenario
from overlord.sim.server import Faults, SimConfig, Simulator
from overlord.sim.streams import StreamClock, granularity_of
from overlord.sim.supervisor_reports import STREAM_ERROR
from overlord.sim.tasks import SimTask, iso, parse_instant
from specs.intervals import floor, format_instant
from specs.watermark import streaming_watermark
from tests.contract.support import until

Client = TestClient[web.Request, web.Application]
SUPERVISOR = "/druid/indexer/v1/supervisor"
INTERVALS = "/druid/coordinator/v1/datasources/clicks/intervals"
W0 = 1_900_000_000.0  # the wall clock when each test starts


class Clock:
    def __init__(self) -> None:
        self.now = W0

    def __call__(self) -> float:
        return self.now


def spec(granularity: str, **io: object) -> dict[str, Any]:
    return {
        "type": "kafka",
        "spec": {
            "dataSchema": {
                "dataSource": "clicks",
                "granularitySpec": {"segmentGranularity": granularity},
            },
            "ioConfig": {"topic": "clicks", "taskDuration": "PT1H", **io},
            "tuningConfig": {"type": "kafka"},
        },
    }


def cluster(**overrides: Any) -> ClusterConfig:
    settings: dict[str, Any] = {
        "seed": 3,
        "lock_delay_s": 0,
        "min_duration_s": 100.0,  # batch tasks stay RUNNING for the whole test
        "max_duration_s": 100.0,
        "stream_event_start": "2026-01-01T00:30:00Z",
    }
    return ClusterConfig(**(settings | overrides))


Harness = tuple[Simulator, Client, Clock]


@pytest.fixture
async def make() -> AsyncIterator[Any]:
    clients: list[Client] = []

    async def start(config: ClusterConfig, granularity: str = "HOUR", **io: object) -> Harness:
        clock = Clock()
        sim = Simulator(SimConfig(cluster=config), wall=clock)
        client: Client = TestClient(TestServer(sim.app()))
        await client.start_server()
        clients.append(client)
        assert (await client.post(SUPERVISOR, json=spec(granularity, **io))).status == 200
        await until(lambda: running(sim) != [])
        return sim, client, clock

    yield start
    for client in clients:
        await client.close()


def running(sim: Simulator) -> list[SimTask]:
    return [t for t in sim.supervisors.live_tasks(sim.supervisors.supervisors["clicks"])]


async def expire(sim: Simulator, clock: Clock, seconds: float) -> None:
    """Move the clock on, then end the streaming tasks as their duration timer does."""
    clock.now += seconds
    old = running(sim)
    for task in old:
        sim.cluster.outcomes.finish(task.id)
    await until(lambda: bool(running(sim)) and running(sim)[0].runner == "RUNNING")


async def status(client: Client) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get(f"{SUPERVISOR}/clicks/status")).json()
    return body["payload"]


async def intervals(client: Client) -> list[str] | int:
    reply = await client.get(INTERVALS)
    return reply.status if reply.status == 204 else list(await reply.json())


async def submit_batch(sim: Simulator, client: Client, task_id: str, interval: str) -> SimTask:
    task = {
        "type": "index_parallel",
        "id": task_id,
        "spec": {
            "dataSchema": {"dataSource": "clicks", "granularitySpec": {"intervals": [interval]}},
            "ioConfig": {"type": "index_parallel"},
        },
    }
    assert (await client.post("/druid/indexer/v1/task", json=task)).status == 200
    await until(lambda: sim.cluster.tasks[task_id].runner == "RUNNING")
    return sim.cluster.tasks[task_id]


# --- frontier ---------------------------------------------------------------------------


async def test_offsets_and_lag_follow_the_frontier_as_the_clock_moves(make: Any) -> None:
    sim, client, clock = await make(cluster(stream_event_rate=2.0, stream_lag_s=10.0))
    first = await status(client)
    # 25 records per event second: the 10 s lag is 250 records, plus a partition's skew.
    assert first["latestOffsets"] == {"0": 3_000_000, "1": 3_006_000}
    assert first["minimumLag"] == {"0": 250, "1": 251}
    assert first["aggregateLag"] == 501
    [task] = first["activeTasks"]
    assert task["startTime"] == "2026-01-01T00:30:00.000Z"  # Druid's clock: event time
    assert task["startingOffsets"] == {"0": 2_999_750, "1": 3_005_750}
    clock.now += 60  # two minutes of event time at rate 2
    later = await status(client)
    assert later["latestOffsets"] == {"0": 3_003_000, "1": 3_009_000}
    assert later["activeTasks"][0]["currentOffsets"] == {"0": 3_002_750, "1": 3_008_749}
    assert later["activeTasks"][0]["remainingSeconds"] == 3540
    assert later["minimumLag"] == first["minimumLag"]
    clock_frontier = sim.supervisors.supervisors["clicks"].clock.frontier(clock.now)
    assert clock_frontier == parse_instant("2026-01-01T00:31:50Z")


async def test_a_suspended_stream_falls_behind_and_catches_up_after_resume(make: Any) -> None:
    sim, client, clock = await make(cluster(stream_lag_s=10.0))
    await client.post(f"{SUPERVISOR}/clicks/suspend")
    clock.now += 600
    await client.post(f"{SUPERVISOR}/clicks/resume")
    await until(lambda: running(sim) != [])
    # 10 s of lag plus 600 s nobody read, at 25 records per second.
    assert (await status(client))["minimumLag"] == {"0": 15_250, "1": 15_251}
    clock.now += 100  # read at 4x the stream's rate: 300 s of the backlog is gone
    assert (await status(client))["minimumLag"] == {"0": 7_750, "1": 7_751}
    clock.now += 100
    assert (await status(client))["minimumLag"] == {"0": 250, "1": 251}


# --- handoff ----------------------------------------------------------------------------


async def test_handoff_at_task_duration_publishes_whole_hours_behind_the_frontier(
    make: Any,
) -> None:
    sim, client, clock = await make(cluster())
    assert await intervals(client) == 204, "nothing is handed off before taskDuration"
    first = running(sim)[0].id
    await expire(sim, clock, 3600)  # frontier 01:30: the 00:00 hour is complete
    assert await intervals(client) == ["2026-01-01T00:00:00.000Z/2026-01-01T01:00:00.000Z"]
    assert sim.cluster.tasks[first].status == "SUCCESS"
    [task] = (await status(client))["activeTasks"]
    assert task["id"] != first
    assert task["startTime"] == "2026-01-01T01:30:00.000Z"
    await expire(sim, clock, 3600)  # frontier 02:30
    assert await intervals(client) == [
        "2026-01-01T01:00:00.000Z/2026-01-01T02:00:00.000Z",
        "2026-01-01T00:00:00.000Z/2026-01-01T01:00:00.000Z",
    ]
    coverage = await (await client.get("/druid/coordinator/v1/datasources/clicks")).json()
    assert coverage["segments"]["maxTime"] == "2026-01-01T02:00:00.000Z"
    assert coverage["segments"]["count"] == 2


async def test_late_data_holds_back_the_hours_it_may_still_land_in(make: Any) -> None:
    config = cluster(stream_late_data=True)
    sim, client, clock = await make(config, lateMessageRejectionPeriod="PT1H")
    # The first task takes rows down to an hour behind its frontier (2025-12-31T23:30).
    [task] = running(sim)
    stored = await (await client.get(f"/druid/indexer/v1/task/{task.id}")).json()
    assert stored["payload"]["ioConfig"] == {
        "type": "kafka",
        "minimumMessageTime": "2025-12-31T23:30:00.000Z",
    }
    await expire(sim, clock, 3600)  # frontier 01:30, late rows down to 00:30
    assert await intervals(client) == ["2025-12-31T23:00:00.000Z/2026-01-01T00:00:00.000Z"]
    await expire(sim, clock, 3600)  # frontier 02:30, late rows down to 01:30
    assert (await intervals(client))[0] == "2026-01-01T00:00:00.000Z/2026-01-01T01:00:00.000Z"


async def test_a_day_granularity_hands_off_only_when_the_day_is_behind_the_frontier(
    make: Any,
) -> None:
    sim, client, clock = await make(cluster(stream_event_rate=24.0), "DAY")
    await expire(sim, clock, 3600)  # 24 event hours: frontier 2026-01-02T00:30
    assert await intervals(client) == ["2026-01-01T00:00:00.000Z/2026-01-02T00:00:00.000Z"]


async def test_an_early_rejection_period_bounds_a_task_by_its_duration_and_the_period(
    make: Any,
) -> None:
    sim, client, _clock = await make(cluster(), earlyMessageRejectionPeriod="PT10M")
    [task] = running(sim)
    stored = await (await client.get(f"/druid/indexer/v1/task/{task.id}")).json()
    # Created at 00:30 event time: + taskDuration (1 h) + the period (10 min).
    assert stored["payload"]["ioConfig"]["maximumMessageTime"] == "2026-01-01T01:40:00.000Z"
    assert "minimumMessageTime" not in stored["payload"]["ioConfig"]


def test_a_task_without_rejection_periods_has_no_message_window() -> None:
    clock = StreamClock.start(cluster(), {}, {}, W0)
    assert clock.message_window(W0, 3600.0) == {}


@pytest.mark.parametrize(
    ("granularity", "at", "bucket"),
    [
        (
            "FIFTEEN_MINUTE",
            "2026-01-01T10:47:00Z",
            ("2026-01-01T10:45:00Z", "2026-01-01T11:00:00Z"),
        ),
        ("WEEK", "2026-01-01T10:47:00Z", ("2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z")),
        ("MONTH", "2026-02-14T10:47:00Z", ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")),
        ("QUARTER", "2026-05-14T00:00:00Z", ("2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z")),
        ("YEAR", "2026-05-14T00:00:00Z", ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")),
    ],
)
def test_segment_buckets_follow_druids_granularities(
    granularity: str, at: str, bucket: tuple[str, str]
) -> None:
    grain = granularity_of({"granularitySpec": {"segmentGranularity": granularity}})
    start = grain.floor(parse_instant(at))
    assert (start, grain.after(start)) == tuple(parse_instant(b) for b in bucket)


def test_a_period_granularity_and_the_default_day_give_their_bucket_lengths() -> None:
    period = {"granularitySpec": {"segmentGranularity": {"type": "period", "period": "PT6H"}}}
    assert granularity_of(period).seconds == 6 * 3600
    assert granularity_of({}).seconds == 86400


# --- batch / stream overlaps ------------------------------------------------------------


async def test_a_batch_task_on_an_interval_the_stream_still_writes_counts_one_overlap(
    make: Any,
) -> None:
    sim, client, _clock = await make(cluster())
    await submit_batch(sim, client, "live", "2026-01-01T00:00:00Z/2026-01-01T01:00:00Z")
    stats = await (await client.get("/sim/stats")).json()
    assert stats["batch_stream_overlaps"] == 1
    assert stats["batch_stream_overlap_tasks"] == [
        {
            "task": "live",
            "type": "index_parallel",
            "datasource": "clicks",
            "interval": "2026-01-01T00:00:00.000Z/2026-01-01T01:00:00.000Z",
            "supervisor": "clicks",
            "stream_writes_from": "2026-01-01T00:00:00.000Z",
        }
    ]


async def test_a_batch_task_on_a_handed_off_interval_counts_no_overlap(make: Any) -> None:
    sim, client, clock = await make(cluster())
    await expire(sim, clock, 3600)
    await submit_batch(sim, client, "done", "2026-01-01T00:00:00Z/2026-01-01T01:00:00Z")
    await submit_batch(sim, client, "older", "2025-12-31T00:00:00Z/2026-01-01T00:00:00Z")
    assert sim.stats()["batch_stream_overlaps"] == 0
    assert sim.stats()["batch_stream_overlap_tasks"] == []


async def test_a_compaction_started_before_the_stream_reached_its_hour_counts_when_it_runs(
    make: Any,
) -> None:
    sim, client, _clock = await make(cluster())
    compact = {"type": "compact", "id": "c1", "dataSource": "clicks"}
    compact["interval"] = "2026-01-01T03:00:00Z/2026-01-01T04:00:00Z"
    assert (await client.post("/druid/indexer/v1/task", json=compact)).status == 200
    await until(lambda: sim.cluster.tasks["c1"].runner == "RUNNING")
    assert sim.stats()["batch_stream_overlaps"] == 1


async def test_a_batch_task_where_no_supervisor_runs_counts_no_overlap(make: Any) -> None:
    sim, client, _clock = await make(cluster())
    await client.post(f"{SUPERVISOR}/clicks/suspend")
    await submit_batch(sim, client, "calm", "2026-01-01T00:00:00Z/2026-01-01T01:00:00Z")
    assert sim.stats()["batch_stream_overlaps"] == 0


async def test_the_overlap_record_keeps_the_latest_hundred_and_a_reset_clears_it(
    make: Any,
) -> None:
    sim, client, _clock = await make(cluster())
    days = [f"2026-02-{d:02d}T00:00:00Z/P1D" for d in range(1, 29)]
    months = [f"2026-{m:02d}-01T00:00:00Z/P1D" for m in range(3, 13)]
    hours = [f"2026-01-01T{h:02d}:00:00Z/PT1H" for h in range(24)]
    years = [f"{y}-06-01T00:00:00Z/P1D" for y in range(2027, 2066)]
    spans = days + months + hours + years
    assert len(spans) == 101
    task = {
        "type": "index",
        "id": "wide",
        "spec": {"dataSchema": {"dataSource": "clicks", "granularitySpec": {"intervals": spans}}},
    }
    assert (await client.post("/druid/indexer/v1/task", json=task)).status == 200
    await until(lambda: sim.cluster.tasks["wide"].runner == "RUNNING")
    stats = await (await client.get("/sim/stats")).json()
    assert stats["batch_stream_overlaps"] == 101
    kept = stats["batch_stream_overlap_tasks"]
    assert (len(kept), kept[0]["interval"][:10], kept[-1]["interval"][:10]) == (
        100,
        "2026-02-02",
        "2065-06-01",
    )
    await client.post("/sim/reset")
    stats = await (await client.get("/sim/stats")).json()
    assert (stats["batch_stream_overlaps"], stats["batch_stream_overlap_tasks"]) == (0, [])


# --- faults -----------------------------------------------------------------------------


async def test_lost_contact_shows_in_the_status_and_recovers(make: Any) -> None:
    sim, client, clock = await make(cluster())
    sim.set_faults(Faults(lost_contact_supervisors={"clicks": 30.0}))
    lost = await status(client)
    assert (lost["state"], lost["detailedState"], lost["healthy"]) == (
        "UNHEALTHY_SUPERVISOR",
        "LOST_CONTACT_WITH_STREAM",
        False,
    )
    assert [{k: v for k, v in e.items() if k != "timestamp"} for e in lost["recentErrors"]] == [
        STREAM_ERROR
    ]
    assert len(lost["activeTasks"]) == 1, "its tasks read on"
    assert "offsetsLastUpdated" not in lost
    assert (await client.get(f"{SUPERVISOR}/clicks/health")).status == 503
    clock.now += 31
    back = await status(client)
    assert (back["state"], back["detailedState"], back["recentErrors"]) == (
        "RUNNING",
        "RUNNING",
        [],
    )


async def test_unable_to_connect_persists_and_starts_no_tasks(make: Any) -> None:
    sim, client, clock = await make(cluster())
    sim.set_faults(Faults(unhealthy_supervisors=["clicks"]))
    clock.now += 3600
    for task in running(sim):
        sim.cluster.outcomes.finish(task.id)
    payload = await status(client)
    assert (payload["state"], payload["detailedState"]) == (
        "UNHEALTHY_SUPERVISOR",
        "UNABLE_TO_CONNECT_TO_STREAM",
    )
    assert (payload["partitions"], payload["activeTasks"], payload["latestOffsets"]) == (0, [], {})
    assert running(sim) == []


async def test_offsets_out_of_range_report_the_stored_offset_until_lifted(make: Any) -> None:
    sim, client, clock = await make(cluster())
    sim.set_faults(Faults(offsets_out_of_range_supervisors=["clicks"]))
    clock.now += 3600
    for task in running(sim):
        sim.cluster.outcomes.finish(task.id)
    payload = await status(client)
    assert (payload["state"], payload["detailedState"], payload["healthy"]) == (
        "UNHEALTHY_SUPERVISOR",
        "LOST_CONTACT_WITH_STREAM",
        False,
    )
    [error] = payload["recentErrors"]
    assert error["exceptionClass"] == (
        "org.apache.druid.indexing.seekablestream.common.StreamException"
    )
    assert error["message"] == (
        "org.apache.druid.java.util.common.ISE: Previous sequenceNumber [3090000] is no longer "
        "available for partition [0]. You can clear the previous sequenceNumber and start "
        "reading from a valid message by using the supervisor's reset API."
    )
    assert error["streamException"] is True
    assert running(sim) == [], "no task can start from offsets the stream no longer has"
    sim.set_faults(Faults())
    await until(lambda: running(sim) != [])
    assert (await status(client))["state"] == "RUNNING"


async def test_failing_streaming_tasks_fail_with_a_readable_report_then_make_it_unhealthy(
    make: Any,
) -> None:
    sim, client, clock = await make(cluster())
    sim.set_faults(Faults(failing_stream_tasks={"clicks": "parse_errors"}))
    await expire(sim, clock, 3600)  # the healthy task hands off; its successor will fail
    failed: list[str] = []
    for _ in range(3):
        [task] = running(sim)
        failed.append(task.id)
        clock.now += 1
        sim.cluster.outcomes.finish(task.id)
        await until(lambda: bool(running(sim)) and running(sim)[0].id not in failed)
    body = await (await client.get(f"/druid/indexer/v1/task/{failed[0]}/status")).json()
    assert (body["status"]["status"], body["status"]["errorMsg"][:44]) == (
        "FAILED",
        "org.apache.druid.java.util.common.RE: Max pa",
    )
    reports = await (await client.get(f"/druid/indexer/v1/task/{failed[0]}/reports")).json()
    assert reports["ingestionStatsAndErrors"]["payload"]["errorMsg"].splitlines()[0] == (
        "org.apache.druid.java.util.common.RE: Max parse exceptions[0] exceeded"
    )
    payload = await status(client)
    assert (payload["state"], payload["detailedState"], payload["healthy"]) == (
        "UNHEALTHY_TASKS",
        "UNHEALTHY_TASKS",
        False,
    )
    assert payload["recentErrors"] == []


@pytest.mark.parametrize("kind", ["oops", "bad_spec"])
async def test_a_failure_kind_streaming_tasks_cannot_have_is_refused(make: Any, kind: str) -> None:
    _sim, client, _clock = await make(cluster())
    reply = await client.post("/sim/faults", json={"failing_stream_tasks": {"clicks": kind}})
    assert reply.status == 400
    assert f"names failure kinds ['{kind}'], which no streaming" in (await reply.json())["error"]


def test_the_live_stream_scenario_sets_the_stream_clock_and_a_brief_lost_contact() -> None:
    config = load_scenario("live_stream")
    assert (config.cluster.stream_event_rate, config.cluster.stream_lag_s) == (60.0, 30.0)
    assert config.cluster.stream_late_data is True
    assert config.faults.lost_contact_supervisors == {"clicks": 5.0}


def test_a_scenario_with_an_unreadable_stream_start_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[cluster]\nstream_event_start = "yesterday"\n')
    with pytest.raises(ScenarioError, match="Invalid isoformat string: 'yesterday'"):
        load_scenario(path)


async def test_a_standby_sharing_the_cluster_keeps_the_leaders_stream_faults(make: Any) -> None:
    sim, client, _clock = await make(cluster())
    sim.set_faults(Faults(offsets_out_of_range_supervisors=["clicks"]))
    Simulator(SimConfig(leader_url="http://leader:8090"), peer=sim)
    assert (await status(client))["detailedState"] == "LOST_CONTACT_WITH_STREAM"


async def test_a_batch_ending_at_the_watermark_of_the_sims_answers_never_overlaps(
    make: Any,
) -> None:
    """The simulator's answers and its overlap count agree: the watermark the orchestrator
    computes from the status and the tasks' minimumMessageTime (aligned down) is never past
    where the stream still writes, while event time runs 60x wall time with lag."""
    config = cluster(stream_event_rate=60.0, stream_lag_s=600.0, stream_late_data=True)
    sim, client, clock = await make(config, lateMessageRejectionPeriod="PT2H")
    for n in range(6):
        await expire(sim, clock, 90 * (n + 1))
        body = await (await client.get(f"{SUPERVISOR}/clicks/status")).json()
        payloads = [
            await (await client.get(f"/druid/indexer/v1/task/{t['id']}")).json()
            for t in body["payload"]["activeTasks"]
        ]
        supervisor = await (await client.get(f"{SUPERVISOR}/clicks")).json()
        mark = streaming_watermark(body, supervisor_spec=supervisor, task_payloads=payloads)
        assert mark.source == "task-minimum-message-time"
        assert body["generationTime"] == iso(
            sim.supervisors.supervisors["clicks"].clock.head(clock.now)
        )
        end = floor(mark.at, "HOUR")
        start = end - timedelta(hours=3)
        await submit_batch(
            sim, client, f"batch_{n}", f"{format_instant(start)}/{format_instant(end)}"
        )
    assert (await (await client.get("/sim/stats")).json())["batch_stream_overlaps"] == 0
    # One hour past the aligned watermark is where the stream still writes.
    late = end + timedelta(hours=1)
    await submit_batch(sim, client, "too_late", f"{format_instant(end)}/{format_instant(late)}")
    assert (await (await client.get("/sim/stats")).json())["batch_stream_overlaps"] == 1
