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
    id: str
    state: str
    detailed_state: str | None = None
    healthy: bool = True
    suspended: bool = False
    data_source: str | None = None


class SupervisorStatus(_Model, frozen=True):
    id: str
    generation_time: str
    payload: dict[str, Any]


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
