"""The narrow seams between the actors and the outside world.

Actors depend on these protocols, not on concrete classes, so tests can pass the real client
pointed at the simulator, or a guarded client (circuit breaker), without the actors knowing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from overlord.models import (
    DataSourceCoverage,
    SupervisorCreated,
    SupervisorState,
    SupervisorStatus,
    TaskStatus,
    TaskStatusPlus,
    TotalWorkerCapacity,
    WorkerInfo,
)

Clock = Callable[[], float]


class Overlord(Protocol):
    async def submit(self, task: Mapping[str, Any] | msgspec.Raw) -> str: ...

    async def status(self, task_id: str) -> TaskStatusPlus: ...

    async def bulk_status(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]: ...

    async def tasks(
        self,
        *,
        state: Any = None,
        datasource: str | None = None,
        created_within: str | None = None,
        max_complete: int | None = None,
        task_type: str | None = None,
    ) -> list[TaskStatusPlus]: ...

    async def task_spec(self, task_id: str) -> dict[str, Any]: ...

    async def reports(self, task_id: str) -> dict[str, Any] | None: ...

    async def log(self, task_id: str, offset: int = 0) -> str | None: ...

    async def shutdown(self, task_id: str) -> None: ...

    async def workers(self) -> list[WorkerInfo]: ...

    async def total_capacity(self) -> TotalWorkerCapacity: ...


class StreamingOverlord(Overlord, Protocol):
    """The supervisor calls (REFERENCE §9) and the Coordinator's coverage (§10), for the
    supervisor actors and the watermark gate."""

    async def supervisor_states(self) -> list[SupervisorState]: ...

    async def supervisor_status(self, supervisor_id: str) -> SupervisorStatus: ...

    async def supervisor_spec(self, supervisor_id: str) -> dict[str, Any]: ...

    async def create_supervisor(
        self, spec: Mapping[str, Any], *, skip_restart_if_unmodified: bool = False
    ) -> SupervisorCreated: ...

    async def suspend_supervisor(self, supervisor_id: str) -> dict[str, Any]: ...

    async def resume_supervisor(self, supervisor_id: str) -> dict[str, Any]: ...

    async def terminate_supervisor(self, supervisor_id: str) -> None: ...

    async def reset_supervisor(self, supervisor_id: str) -> None: ...

    async def datasource_coverage(self, datasource: str) -> DataSourceCoverage | None: ...
