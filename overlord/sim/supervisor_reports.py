"""What a simulated supervisor reports: the `/status` payload (Kafka or Kinesis shape, per
Druid version) and `/stats` (REFERENCE §9.2).

Offsets follow the stream's event time (`streams.StreamClock`): the latest offset is that of
the newest record, a task's current offset that of its frontier, each partition a few records
further behind, so consecutive calls show a stream that moves and a supervisor that keeps up
(or, with `stream_lag_s` or after a pause, one that trails). Stream faults show as Druid reports
them: a state, a detailedState and recentErrors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from overlord.sim.catalog import totals
from overlord.sim.tasks import ClusterConfig, SimTask, iso

if TYPE_CHECKING:
    from overlord.sim.cluster import SimCluster
    from overlord.sim.supervisors import SimSupervisor, SupervisorStore

RECORDS_PER_S = 25.0
BASE_OFFSET = 3_000_000
STREAM_EXCEPTION = "org.apache.druid.indexing.seekablestream.common.StreamException"
STREAM_ERROR = {
    "exceptionClass": STREAM_EXCEPTION,
    "message": "org.apache.kafka.common.errors.TimeoutException: Timeout expired while "
    "fetching topic metadata",
    "streamException": True,
}
# REFERENCE gives the shape of recentErrors, not this message: it is the one Druid's
# supervisor raises (as a StreamException) when a stored offset has left the stream.
OUT_OF_RANGE = (
    "org.apache.druid.java.util.common.ISE: Previous sequenceNumber [{offset}] is no longer "
    "available for partition [{partition}]. You can clear the previous sequenceNumber and "
    "start reading from a valid message by using the supervisor's reset API."
)


def _partitions(sup: SimSupervisor, config: ClusterConfig) -> list[str]:
    if sup.type == "kinesis":
        return [f"shardId-{n:012d}" for n in range(config.stream_partitions)]
    return [str(n) for n in range(config.stream_partitions)]


def _offset(sup: SimSupervisor, event_time: float, n: int) -> int:
    """The offset of partition `n`'s record at `event_time`."""
    return BASE_OFFSET + 6_000 * n + int((event_time - sup.clock.epoch_event) * RECORDS_PER_S)


def _lags(sup: SimSupervisor, parts: list[str], now: float) -> dict[str, int]:
    """Records each partition's consumer trails the newest record by."""
    behind = round((sup.clock.head(now) - sup.clock.frontier(now)) * RECORDS_PER_S)
    return {p: behind + n % 4 for n, p in enumerate(parts)}


def _millis(records: int) -> int:
    return round(records * 1000 / RECORDS_PER_S)


def _render(sup: SimSupervisor, value: int) -> int | str:
    return f"4964{value:052d}" if sup.type == "kinesis" else value  # Kinesis: sequence strings


def _task_report(sup: SimSupervisor, task: SimTask, parts: list[str], now: float) -> dict[str, Any]:
    started = task.started
    row: dict[str, Any] = {"id": task.id}
    if started is not None:
        first = sup.clock.frontier(started)
        row["startingOffsets"] = {
            p: _render(sup, _offset(sup, first, n)) for n, p in enumerate(parts)
        }
    row["startTime"] = iso(sup.clock.head(started)) if started is not None else None
    elapsed = now - started if started is not None else 0.0
    row["remainingSeconds"] = max(0, int(task.duration_s - elapsed))
    row["type"] = "ACTIVE"
    if started is not None:
        lags = _lags(sup, parts, now)
        head = sup.clock.head(now)
        row["currentOffsets"] = {
            p: _render(sup, _offset(sup, head, n) - lags[p]) for n, p in enumerate(parts)
        }
        if sup.type == "kinesis":
            row["lag"] = {}
            row["lagMillis"] = {p: _millis(lag) for p, lag in lags.items()}
        else:
            row["lag"] = lags
    return row


def build_status(
    store: SupervisorStore, sup: SimSupervisor, config: ClusterConfig
) -> dict[str, Any]:
    now = store.cluster.wall()
    state, detailed, healthy = store.state(sup)
    fault = store.fault(sup)
    # A supervisor that never connected knows no partitions; one that lost contact (or
    # whose tasks fail) still knows its task groups, but not the stream's latest offsets.
    connected = fault != "unable_to_connect"
    fresh = fault is None
    parts = _partitions(sup, config) if connected else []
    payload: dict[str, Any] = {}
    if config.druid_version >= 34:
        payload["id"] = sup.id
    payload.update(
        dataSource=sup.datasource,
        stream=sup.stream,
        partitions=len(parts),
        replicas=int(sup.io.get("replicas", 1)),
        durationSeconds=int(sup.duration_s),
    )
    running = store.live_tasks(sup) if connected else []
    payload["activeTasks"] = [_task_report(sup, t, parts, now) for t in running]
    payload["publishingTasks"] = []
    lag = _lags(sup, parts, now)
    head = sup.clock.head(now)
    # Without partitions the maps are empty, not omitted, as Druid prints them.
    if sup.type == "kafka" and not sup.suspended:
        payload["latestOffsets"] = {p: _offset(sup, head, n) for n, p in enumerate(parts)}
        payload["minimumLag"] = lag
        payload["aggregateLag"] = sum(lag.values())
        if fresh:
            payload["offsetsLastUpdated"] = iso(sup.clock.head(now - 5))
        if sup.io.get("emitTimeLagMetrics") and config.druid_version >= 33:
            payload["minimumLagMillis"] = {p: _millis(v) for p, v in lag.items()}
    elif sup.type == "kinesis" and not sup.suspended:
        payload["minimumLagMillis"] = {p: _millis(v) for p, v in lag.items()}
        payload["aggregateLagMillis"] = _millis(max(lag.values(), default=0))
    payload.update(suspended=sup.suspended, healthy=healthy, state=state, detailedState=detailed)
    payload["recentErrors"] = _recent_errors(sup, fault, parts, now)
    # Times a supervisor reports are Druid's clock, which stamps the stream's records: the
    # stream's event time here (it runs at `stream_event_rate` from `stream_event_start`),
    # so they agree with the tasks' minimumMessageTime and what the stream hands off.
    return {"id": sup.id, "generationTime": iso(sup.clock.head(now)), "payload": payload}


def _recent_errors(
    sup: SimSupervisor, fault: str | None, parts: list[str], now: float
) -> list[dict[str, Any]]:
    """The supervisor's own exceptions. REFERENCE does not say whether failing tasks add
    any; they are left out (they show in the tasks' statuses and reports), so UNHEALTHY_TASKS
    comes with none."""
    if fault in ("unable_to_connect", "lost_contact"):
        return [{"timestamp": iso(now - 30), **STREAM_ERROR}]
    if fault == "offsets_out_of_range":
        stored = _offset(sup, sup.clock.frontier(now), 0)  # where its tasks stopped
        partition = parts[0] if parts else "0"
        message = OUT_OF_RANGE.format(offset=_render(sup, stored), partition=partition)
        error = {"exceptionClass": STREAM_EXCEPTION, "message": message, "streamException": True}
        return [{"timestamp": iso(now - 30), **error}]
    return []


def stats_payload(tasks: list[SimTask], cluster: SimCluster) -> dict[str, Any]:
    """`/supervisor/{id}/stats`: task group -> task id -> moving averages and totals."""
    out: dict[str, Any] = {}
    for group, task in enumerate(tasks):
        if task.runner != "RUNNING":
            continue
        report = cluster.outcomes.live_report(task)
        if report is None:
            continue
        row_stats = report["ingestionStatsAndErrors"]["payload"]["rowStats"]
        out[str(group)] = {
            task.id: {
                "movingAverages": row_stats["movingAverages"],
                "totals": {
                    "buildSegments": {
                        k: v
                        for k, v in totals(
                            row_stats["totals"]["buildSegments"]["processed"]
                        ).items()
                        if k != "thrownAwayByReason"
                    }
                },
            }
        }
    return out
