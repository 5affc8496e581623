"""`InstrumentedOverlord`: the Overlord client's calls counted and timed by endpoint and
outcome. One call includes the client's own retries; the raw HTTP requests are counted apart
(`druid_orch_overlord_http_requests_total`, read at scrape time)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec

from actors.ports import Overlord
from overlord.errors import (
    OverlordError,
    OverlordRejectedError,
    OverlordUnavailableError,
    TaskNotFoundError,
)
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
from service.metrics.families import Families

T = TypeVar("T")


def _outcome(exc: OverlordError) -> str:
    if isinstance(exc, TaskNotFoundError):
        return "not_found"
    if isinstance(exc, OverlordUnavailableError):
        return "unavailable"
    if isinstance(exc, OverlordRejectedError):
        return "rejected"
    return "error"


class InstrumentedOverlord:
    """An `Overlord` that counts and times every call of the one it wraps."""

    def __init__(self, inner: Overlord, families: Families) -> None:
        self.inner = inner
        self._count = families.overlord_requests
        self._latency = families.overlord_latency

    async def _timed(self, endpoint: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await call
        except OverlordError as exc:
            outcome = _outcome(exc)
            raise
        finally:
            self._latency.labels(endpoint).observe(time.perf_counter() - started)
            self._count.labels(endpoint, outcome).inc()

    async def submit(self, task: Mapping[str, Any] | msgspec.Raw) -> str:
        return await self._timed("submit", self.inner.submit(task))

    async def status(self, task_id: str) -> TaskStatusPlus:
        return await self._timed("status", self.inner.status(task_id))

    async def bulk_status(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        return await self._timed("bulk_status", self.inner.bulk_status(task_ids))

    async def tasks(
        self,
        *,
        state: Any = None,
        datasource: str | None = None,
        created_within: str | None = None,
        max_complete: int | None = None,
        task_type: str | None = None,
    ) -> list[TaskStatusPlus]:
        return await self._timed(
            "tasks",
            self.inner.tasks(
                state=state,
                datasource=datasource,
                created_within=created_within,
                max_complete=max_complete,
                task_type=task_type,
            ),
        )

    async def task_spec(self, task_id: str) -> dict[str, Any]:
        return await self._timed("task_spec", self.inner.task_spec(task_id))

    async def reports(self, task_id: str) -> dict[str, Any] | None:
        return await self._timed("reports", self.inner.reports(task_id))

    async def log(self, task_id: str, offset: int = 0) -> str | None:
        return await self._timed("log", self.inner.log(task_id, offset))

    async def shutdown(self, task_id: str) -> None:
        await self._timed("shutdown", self.inner.shutdown(task_id))

    async def workers(self) -> list[WorkerInfo]:
        return await self._timed("workers", self.inner.workers())

    async def total_capacity(self) -> TotalWorkerCapacity:
        return await self._timed("total_capacity", self.inner.total_capacity())

    # --- the supervisor reads of the watermark gate (the inner client must stream) ---------

    async def supervisor_states(self) -> list[SupervisorState]:
        inner: Any = self.inner
        return await self._timed("supervisors", inner.supervisor_states())

    async def supervisor_status(self, supervisor_id: str) -> SupervisorStatus:
        inner: Any = self.inner
        return await self._timed("supervisor_status", inner.supervisor_status(supervisor_id))

    async def supervisor_spec(self, supervisor_id: str) -> dict[str, Any]:
        inner: Any = self.inner
        return await self._timed("supervisor_spec", inner.supervisor_spec(supervisor_id))

    async def datasource_coverage(self, datasource: str) -> DataSourceCoverage | None:
        inner: Any = self.inner
        return await self._timed("coverage", inner.datasource_coverage(datasource))

    # --- the supervisor actors' calls ------------------------------------------------------

    async def create_supervisor(
        self, spec: Mapping[str, Any], *, skip_restart_if_unmodified: bool = False
    ) -> SupervisorCreated:
        inner: Any = self.inner
        call = inner.create_supervisor(spec, skip_restart_if_unmodified=skip_restart_if_unmodified)
        result: SupervisorCreated = await self._timed("supervisor_create", call)
        return result

    async def suspend_supervisor(self, supervisor_id: str) -> dict[str, Any]:
        inner: Any = self.inner
        result: dict[str, Any] = await self._timed(
            "supervisor_suspend", inner.suspend_supervisor(supervisor_id)
        )
        return result

    async def resume_supervisor(self, supervisor_id: str) -> dict[str, Any]:
        inner: Any = self.inner
        result: dict[str, Any] = await self._timed(
            "supervisor_resume", inner.resume_supervisor(supervisor_id)
        )
        return result

    async def terminate_supervisor(self, supervisor_id: str) -> None:
        inner: Any = self.inner
        await self._timed("supervisor_terminate", inner.terminate_supervisor(supervisor_id))

    async def reset_supervisor(self, supervisor_id: str) -> None:
        inner: Any = self.inner
        await self._timed("supervisor_reset", inner.reset_supervisor(supervisor_id))
