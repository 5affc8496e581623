"""What a simulated supervisor reports: the `/status` payload (Kafka or Kinesis shape, per
Druid version) and `/stats` (REFERENCE §9.2).

Offsets grow at a fixed rate per partition from the supervisor's creation, and each active
task trails the latest offset by a small, steady lag, so consecutive calls show a stream that
moves and a supervisor that keeps up.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from overlord.sim.catalog import totals
from overlord.sim.tasks import ClusterConfig, SimTask, iso

if TYPE_CHECKING:
    from overlord.sim.cluster import SimCluster
    from overlord.sim.supervisors import SimSupervisor, SupervisorStore

RECORDS_PER_S = 25.0
BASE_OFFSET = 3_000_000
STREAM_ERROR = {
    "exceptionClass": "org.apache.druid.indexing.seekablestream.common.StreamException",
    "message": "org.apache.kafka.common.errors.TimeoutException: Timeout expired while "
    "fetching topic metadata",
    "streamException": True,
}


def _partitions(sup: SimSupervisor, config: ClusterConfig) -> list[str]:
    if sup.type == "kinesis":
        return [f"shardId-{n:012d}" for n in range(config.stream_partitions)]
    return [str(n) for n in range(config.stream_partitions)]


def _offset(sup: SimSupervisor, at: float, n: int) -> int:
    return BASE_OFFSET + 6_000 * n + int((at - sup.created) * RECORDS_PER_S)


def _render(sup: SimSupervisor, value: int) -> int | str:
    return f"4964{value:052d}" if sup.type == "kinesis" else value  # Kinesis: sequence strings


def _task_report(sup: SimSupervisor, task: SimTask, parts: list[str], now: float) -> dict[str, Any]:
    started = task.started
    row: dict[str, Any] = {"id": task.id}
    if started is not None:
        row["startingOffsets"] = {
            p: _render(sup, _offset(sup, started, n)) for n, p in enumerate(parts)
        }
    row["startTime"] = iso(started) if started is not None else None
    elapsed = now - started if started is not None else 0.0
    row["remainingSeconds"] = max(0, int(task.duration_s - elapsed))
    row["type"] = "ACTIVE"
    if started is not None:
        lags = {p: n % 4 for n, p in enumerate(parts)}
        row["currentOffsets"] = {
            p: _render(sup, _offset(sup, now, n) - lags[p]) for n, p in enumerate(parts)
        }
        if sup.type == "kinesis":
            row["lag"] = {}
            row["lagMillis"] = {p: lag * 1150 for p, lag in lags.items()}
        else:
            row["lag"] = lags
    return row


def build_status(
    store: SupervisorStore, sup: SimSupervisor, config: ClusterConfig
) -> dict[str, Any]:
    now = time.time()
    state, detailed, healthy = store.state(sup)
    parts = _partitions(sup, config) if healthy else []
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
    running = [] if not healthy else store.live_tasks(sup)
    payload["activeTasks"] = [_task_report(sup, t, parts, now) for t in running]
    payload["publishingTasks"] = []
    lag = {p: n % 4 for n, p in enumerate(parts)}
    if sup.type == "kafka" and not sup.suspended:
        payload["latestOffsets"] = {p: _offset(sup, now, n) for n, p in enumerate(parts)}
        payload["minimumLag"] = lag
        payload["aggregateLag"] = sum(lag.values())
        if healthy:
            payload["offsetsLastUpdated"] = iso(now - 5)
        if sup.io.get("emitTimeLagMetrics") and config.druid_version >= 33:
            payload["minimumLagMillis"] = {p: v * 1150 for p, v in lag.items()}
    elif sup.type == "kinesis" and not sup.suspended:
        payload["minimumLagMillis"] = {p: v * 1150 for p, v in lag.items()}
        payload["aggregateLagMillis"] = max(lag.values(), default=0) * 1150
    payload.update(suspended=sup.suspended, healthy=healthy, state=state, detailedState=detailed)
    payload["recentErrors"] = [] if healthy else [{"timestamp": iso(now - 30), **STREAM_ERROR}]
    return {"id": sup.id, "generationTime": iso(now), "payload": payload}


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
