"""msgspec models of what the Overlord and Coordinator answer.

Response models ignore unknown fields (newer Druid versions add some); required fields are the
ones Druid always writes, so a reply missing one is a protocol error with its JSON path.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

StatusCode = Literal["RUNNING", "SUCCESS", "FAILED"]
RunnerStatusCode = Literal["WAITING", "PENDING", "RUNNING", "NONE"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"SUCCESS", "FAILED"})


class _Model(msgspec.Struct, rename="camel", frozen=True):
    pass


class TaskLocation(_Model, frozen=True):
    host: str | None = None
    port: int = -1
    tls_port: int = -1

    def describe(self) -> str | None:
        if self.host is None:
            return None
        return f"{self.host}:{self.tls_port if self.port == -1 else self.port}"


class TaskStatusPlus(_Model, frozen=True):
    """A row of `/tasks`, and the `status` object of `/task/{id}/status`."""

    id: str
    status_code: StatusCode
    group_id: str | None = None
    type: str | None = None
    created_time: str | None = None
    queue_insertion_time: str | None = None
    runner_status_code: RunnerStatusCode | None = None
    duration: int = -1
    location: TaskLocation = TaskLocation()
    data_source: str | None = None
    error_msg: str | None = None


class TaskStatusResponse(_Model, frozen=True):
    task: str
    status: TaskStatusPlus | None


class TaskStatus(_Model, frozen=True):
    """A value of the bulk `POST /taskStatus` map (no runner state, no type)."""

    id: str
    status: StatusCode
    duration: int = -1
    error_msg: str | None = None
    location: TaskLocation = TaskLocation()


class SubmitResponse(_Model, frozen=True):
    task: str


class ShutdownResponse(_Model, frozen=True):
    task: str


class DataSourceShutdownResponse(msgspec.Struct, frozen=True):
    dataSource: str


class LeaderResponse(_Model, frozen=True):
    leader: bool


class TaskPayloadResponse(_Model, frozen=True):
    task: str
    payload: dict[str, Any] | None


class Worker(_Model, frozen=True):
    host: str
    capacity: int
    scheme: str = "http"
    ip: str | None = None
    version: str | None = None
    category: str = "_default_worker_category"
    disabled: bool = False


class WorkerInfo(_Model, frozen=True):
    worker: Worker
    curr_capacity_used: int
    curr_parallel_index_capacity_used: int = 0
    curr_capacity_used_by_task_type: dict[str, int] = {}
    availability_groups: list[str] = []
    running_tasks: list[str] = []
    last_completed_task_time: str | None = None
    blacklisted_until: str | None = None

    @property
    def free_slots(self) -> int:
        if self.worker.disabled or self.blacklisted_until is not None:
            return 0
        return max(0, self.worker.capacity - self.curr_capacity_used)


class TotalWorkerCapacity(_Model, frozen=True):
    current_cluster_capacity: int
    maximum_capacity_with_auto_scale: int
    used_cluster_capacity: int


class SupervisorState(_Model, frozen=True):
    """An element of `GET /supervisor?state=true`. Trust `state == "SUSPENDED"` over
    `suspended`, which Druid fills in only when `?system` is also given."""

    id: str
    state: str
    detailed_state: str | None = None
    healthy: bool = True
    suspended: bool = False
    data_source: str | None = None


Offsets = dict[str, int | str]  # Kafka: partition -> long; Kinesis: shard id -> sequence string


class SupervisorTaskReport(_Model, frozen=True):
    """An element of `activeTasks` / `publishingTasks` in a supervisor status payload."""

    id: str
    type: str | None = None
    start_time: str | None = None
    remaining_seconds: int | None = None
    starting_offsets: Offsets | None = None
    current_offsets: Offsets | None = None
    lag: dict[str, int] | None = None
    lag_millis: dict[str, int] | None = None


class SupervisorErrorEvent(_Model, frozen=True):
    timestamp: str
    exception_class: str | None = None
    message: str | None = None
    stream_exception: bool | None = None


class SupervisorPayload(_Model, frozen=True):
    """`payload` of `GET /supervisor/{id}/status` (Kafka and Kinesis; null keys are omitted)."""

    data_source: str
    state: str
    id: str | None = None
    stream: str | None = None
    partitions: int = 0
    replicas: int = 1
    duration_seconds: int = 0
    active_tasks: list[SupervisorTaskReport] = []
    publishing_tasks: list[SupervisorTaskReport] = []
    latest_offsets: Offsets | None = None
    minimum_lag: dict[str, int] | None = None
    aggregate_lag: int | None = None
    minimum_lag_millis: dict[str, int] | None = None
    aggregate_lag_millis: int | None = None
    offsets_last_updated: str | None = None
    suspended: bool = False
    healthy: bool = True
    detailed_state: str | None = None
    recent_errors: list[SupervisorErrorEvent] = []


class SupervisorStatus(_Model, frozen=True):
    id: str
    generation_time: str
    payload: SupervisorPayload


class SupervisorCreated(_Model, frozen=True):
    """`POST /supervisor`: `{"id"}` up to Druid 37, plus `modified`/`restarted` from 38."""

    id: str
    modified: bool | None = None
    restarted: bool | None = None


class TaskLock(_Model, frozen=True):
    """A lock of `POST /activeLocks` (time-chunk, or segment with `partitionId`)."""

    type: str
    group_id: str
    data_source: str
    interval: str
    granularity: str = "timeChunk"
    version: str | None = None
    priority: int | None = None
    revoked: bool = False
    partition_id: int | None = None


class ActiveLocks(_Model, frozen=True):
    datasource_to_locks: dict[str, list[TaskLock]] = {}


class LockFilter(_Model, frozen=True):
    """One element of the body of `lockedIntervals/v2` and `activeLocks`."""

    datasource: str
    priority: int = 0
    intervals: list[str] | None = None
    context: dict[str, Any] | None = None


class RowTotals(_Model, frozen=True):
    """Row counters of one ingestion phase (`RowIngestionMetersTotals`)."""

    processed: int = 0
    processed_bytes: int = 0
    processed_with_error: int = 0
    thrown_away: int = 0
    thrown_away_by_reason: dict[str, int] = {}
    unparseable: int = 0


class ParseExceptionReport(_Model, frozen=True):
    input: str | None = None
    error_type: str | None = None
    details: list[str] = []
    time_of_exception_millis: int | None = None


class IngestionPayload(_Model, frozen=True):
    """`ingestionStatsAndErrors.payload` of a task report (REFERENCE §5.2).

    `row_stats` keeps Druid's shape, which depends on the task and mode; `phase_totals()`
    reads any of them.
    """

    ingestion_state: str
    row_stats: dict[str, dict[str, Any]] = {}
    unparseable_events: dict[str, list[ParseExceptionReport]] = {}
    error_msg: str | None = None
    segment_availability_confirmed: bool = False
    segment_availability_wait_time_ms: int = 0
    records_processed: dict[str, int] | None = None
    segments_read: int | None = None
    segments_published: int | None = None

    def phase_totals(self) -> dict[str, RowTotals]:
        """Phase -> totals, for the sequential (`{phase: totals}`), parallel and live
        (`{"totals": {phase: totals}}`) and streaming (`{"buildSegments": totals}`) shapes."""
        nested = self.row_stats.get("totals")
        source = nested if nested is not None else self.row_stats
        return {
            phase: msgspec.convert(totals, RowTotals, from_attributes=False)
            for phase, totals in source.items()
            if isinstance(totals, dict)
        }


class IngestionReport(_Model, frozen=True):
    type: str
    task_id: str
    payload: IngestionPayload


class ContextReport(_Model, frozen=True):
    type: str
    task_id: str
    payload: dict[str, Any] = {}


class TaskReports(msgspec.Struct, frozen=True):
    """`GET /task/{id}/reports`, with the two reports the orchestrator reads decoded."""

    ingestion: IngestionReport | None = msgspec.field(default=None, name="ingestionStatsAndErrors")
    context: ContextReport | None = msgspec.field(default=None, name="taskContext")


class DataSourceSegments(_Model, frozen=True):
    count: int = 0
    size: int = 0
    replicated_size: int = 0
    min_time: str | None = None
    max_time: str | None = None


class DataSourceCoverage(_Model, frozen=True):
    """Coordinator `GET /druid/coordinator/v1/datasources/{ds}` (served segments only)."""

    segments: DataSourceSegments = DataSourceSegments()
    tiers: dict[str, dict[str, int]] = {}
