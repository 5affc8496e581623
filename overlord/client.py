"""The Overlord (and Coordinator) REST client.

`HttpOverlord` is the typed face of the API: one method per endpoint the orchestrator needs,
each decoding the answer into `overlord.models` Structs. The HTTP itself (session, auth,
timeouts, standby redirects, retries, error mapping) happens in `overlord.transport`; paths come
from `overlord.endpoints`. A reply that does not decode becomes `OverlordProtocolError` naming
the endpoint and quoting the start of the body.

Task logs (`log`, `follow_log`) live in `overlord.log_reader`, mixed in here.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import aiohttp
import msgspec

from overlord import endpoints as ep
from overlord.auth import AuthHook
from overlord.errors import OverlordUnavailableError, TaskNotFoundError
from overlord.failures import protocol_error
from overlord.log_reader import LogReader
from overlord.models import (
    ActiveLocks,
    DataSourceCoverage,
    DataSourceShutdownResponse,
    LeaderResponse,
    LockFilter,
    ShutdownResponse,
    SubmitResponse,
    TaskLock,
    TaskPayloadResponse,
    TaskReports,
    TaskStatus,
    TaskStatusPlus,
    TaskStatusResponse,
    TotalWorkerCapacity,
    WorkerInfo,
)
from overlord.supervisor_client import SupervisorClient
from overlord.tls import ClientSettings
from overlord.transport import Reply, RequestRetryPolicy, Transport, decode, unexpected

__all__ = ["HttpOverlord", "RequestRetryPolicy", "TaskState"]

TaskState = Literal["pending", "waiting", "running", "complete"]
_NO_REPORT = "No task reports were found"


class HttpOverlord(LogReader, SupervisorClient):
    """Async client for the Druid Overlord API (and the Coordinator's coverage endpoints).

    Args:
        url: the Overlord (or Router) base URL. User info in it becomes basic auth and is
            removed from the URL.
        coordinator_url: the Coordinator for coverage calls; defaults to `url`.
        auth: adds or signs headers per request (`BasicAuth`, `BearerAuth`, or any hook).
        timeout_s: per-request timeout (connect, send and read the whole answer).
        verify_tls: verify server certificates (on by default).
        ca_bundle: a CA bundle file to verify against instead of the system store.
        client_cert: a PEM client certificate (mutual TLS), its key in it or in `client_key`.
        client_key: the PEM private key of `client_cert`.
        leader_hosts: hosts a standby's redirect may take the credentials to, besides the
            host of `url`; a redirect elsewhere fails with `OverlordConfigError`.
        retry: backoff for retryable failures of calls that may be retried.
        session: an existing session to use (then not closed by `close()`).
        max_connections: connection-pool size of the session the client creates.
        rng: the jitter source (inject a seeded one for reproducible tests).
    """

    def __init__(
        self,
        url: str,
        *,
        coordinator_url: str | None = None,
        auth: AuthHook | None = None,
        timeout_s: float = 30.0,
        verify_tls: bool = True,
        ca_bundle: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        leader_hosts: Iterable[str] | None = None,
        retry: RequestRetryPolicy = RequestRetryPolicy(),
        session: aiohttp.ClientSession | None = None,
        max_connections: int = 32,
        rng: random.Random | None = None,
    ) -> None:
        self._transport = Transport(
            url,
            coordinator_url=coordinator_url,
            auth=auth,
            timeout_s=timeout_s,
            verify_tls=verify_tls,
            ca_bundle=ca_bundle,
            client_cert=client_cert,
            client_key=client_key,
            leader_hosts=leader_hosts,
            retry=retry,
            session=session,
            max_connections=max_connections,
            rng=rng,
        )

    @classmethod
    def from_settings(
        cls,
        url: str,
        settings: ClientSettings,
        *,
        retry: RequestRetryPolicy = RequestRetryPolicy(),
        session: aiohttp.ClientSession | None = None,
    ) -> HttpOverlord:
        """A client of the Overlord at `url` with `settings` (TLS, mTLS, credentials,
        leader hosts): how the daemon and an embedding program alike build theirs."""
        return cls(
            url,
            coordinator_url=settings.coordinator_url,
            auth=settings.auth,
            timeout_s=settings.timeout_s,
            verify_tls=settings.verify_tls,
            ca_bundle=settings.ca_bundle,
            client_cert=settings.client_cert,
            client_key=settings.client_key,
            leader_hosts=settings.leader_hosts,
            retry=retry,
            session=session,
        )

    def __repr__(self) -> str:
        t = self._transport
        return f"HttpOverlord({t.configured!r}, leader={t.leader!r}, auth={t.auth!r})"

    @property
    def leader_url(self) -> str:
        """The Overlord that answered last (after following standby redirects)."""
        return self._transport.leader

    @property
    def requests(self) -> int:
        """HTTP requests sent so far, including redirects and retries."""
        return self._transport.requests

    async def __aenter__(self) -> HttpOverlord:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._transport.close()

    # --- tasks -------------------------------------------------------------------------

    async def submit(self, task: Mapping[str, Any] | msgspec.Raw) -> str:
        """`POST /task`. Returns the task id (ours when the spec has an `id`).

        `task` is the task JSON, as a mapping or as its bytes (`msgspec.Raw`, sent as is).

        Never re-sent once it may have reached the Overlord; only a refused connection or a
        429/503 (answered before Druid looks at the task) is retried.

        Raises:
            TaskAlreadyExistsError: a task with this id is stored (running or finished).
            OverlordRejectedError: the spec was refused (400), or auth failed (401/403).
            OverlordUnavailableError: transport error or 5xx; check `maybe_applied`.
        """
        reply = await self._transport.call(ep.SUBMIT, ep.SUBMIT.path(), json_body=task)
        return decode(reply, SubmitResponse, ep.SUBMIT).task

    async def status(self, task_id: str) -> TaskStatusPlus:
        """`GET /task/{id}/status`. Raises `TaskNotFoundError` for an unknown id."""
        reply = await self._transport.call(
            ep.STATUS, ep.STATUS.path(task_id=task_id), task_id=task_id
        )
        response = decode(reply, TaskStatusResponse, ep.STATUS)
        if response.status is None:  # the resource-level 404 race, reached with a 200 body
            raise TaskNotFoundError(task_id, endpoint=ep.STATUS.name, status=reply.status)
        return response.status

    async def bulk_status(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """`POST /taskStatus`. Unknown ids are absent from the result; [] asks nothing."""
        if not task_ids:
            return {}
        reply = await self._transport.call(
            ep.BULK_STATUS, ep.BULK_STATUS.path(), json_body=list(task_ids)
        )
        return decode(reply, dict[str, TaskStatus], ep.BULK_STATUS)

    async def tasks(
        self,
        *,
        state: TaskState | None = None,
        datasource: str | None = None,
        created_within: str | None = None,
        max_complete: int | None = None,
        task_type: str | None = None,
    ) -> list[TaskStatusPlus]:
        """`GET /tasks`: completed tasks first (newest first), then active ones.

        `created_within` is an ISO-8601 interval with `_` for `/`; Druid uses only its length,
        counted back from now. Without it, completed tasks of the last 24 h are listed.
        `max_complete` limits completed rows only (0 = active tasks only).
        """
        params: dict[str, str] = {}
        if state is not None:
            params["state"] = state
        if datasource is not None:
            params["datasource"] = datasource
        if created_within is not None:
            params["createdTimeInterval"] = created_within
        if max_complete is not None:
            params["max"] = str(max_complete)
        if task_type is not None:
            params["type"] = task_type
        reply = await self._transport.call(ep.TASKS, ep.TASKS.path(), params=params)
        return decode(reply, list[TaskStatusPlus], ep.TASKS)

    async def task_spec(self, task_id: str) -> dict[str, Any]:
        """`GET /task/{id}`: the stored task JSON with defaults filled in."""
        reply = await self._transport.call(
            ep.TASK_SPEC, ep.TASK_SPEC.path(task_id=task_id), task_id=task_id
        )
        payload = decode(reply, TaskPayloadResponse, ep.TASK_SPEC).payload
        if payload is None:
            raise TaskNotFoundError(task_id, endpoint=ep.TASK_SPEC.name, status=reply.status)
        return payload

    async def _reports_reply(self, task_id: str) -> Reply | None:
        reply = await self._transport.call(
            ep.REPORTS, ep.REPORTS.path(task_id=task_id), task_id=task_id, accept=(404,)
        )
        if reply.status != 404:
            return reply
        if reply.body.startswith(_NO_REPORT.encode()):
            return None
        raise unexpected(reply, ep.REPORTS, ep.REPORTS.path(task_id=task_id), task_id=task_id)

    async def reports(self, task_id: str) -> dict[str, Any] | None:
        """`GET /task/{id}/reports` as a plain map, or None when there is no report (yet)."""
        reply = await self._reports_reply(task_id)
        return None if reply is None else decode(reply, dict[str, Any], ep.REPORTS)

    async def task_reports(self, task_id: str) -> TaskReports | None:
        """`GET /task/{id}/reports` with `ingestionStatsAndErrors` and `taskContext` decoded."""
        reply = await self._reports_reply(task_id)
        return None if reply is None else decode(reply, TaskReports, ep.REPORTS)

    async def shutdown(self, task_id: str) -> None:
        """`POST /task/{id}/shutdown`. Harmless on a finished task (200, no-op)."""
        reply = await self._transport.call(
            ep.SHUTDOWN, ep.SHUTDOWN.path(task_id=task_id), task_id=task_id
        )
        decode(reply, ShutdownResponse, ep.SHUTDOWN)

    async def shutdown_all(self, datasource: str) -> bool:
        """Shut down every active task of a datasource. False when there was none (404)."""
        path = ep.SHUTDOWN_ALL.path(datasource=datasource)
        reply = await self._transport.call(ep.SHUTDOWN_ALL, path, accept=(404,))
        if reply.status == 404:
            if reply.body.strip():  # an empty 404 means "nothing active"; anything else is odd
                raise unexpected(reply, ep.SHUTDOWN_ALL, path)
            return False
        decode(reply, DataSourceShutdownResponse, ep.SHUTDOWN_ALL)
        return True

    # --- cluster -----------------------------------------------------------------------

    async def workers(self) -> list[WorkerInfo]:
        reply = await self._transport.call(ep.WORKERS, ep.WORKERS.path())
        return decode(reply, list[WorkerInfo], ep.WORKERS)

    async def total_capacity(self) -> TotalWorkerCapacity:
        reply = await self._transport.call(ep.TOTAL_CAPACITY, ep.TOTAL_CAPACITY.path())
        return decode(reply, TotalWorkerCapacity, ep.TOTAL_CAPACITY)

    async def locked_intervals(
        self, filters: Sequence[Mapping[str, Any] | LockFilter]
    ) -> dict[str, list[str]]:
        """`POST /lockedIntervals/v2`: datasource -> intervals locked against such a task."""
        reply = await self._transport.call(
            ep.LOCKED_INTERVALS, ep.LOCKED_INTERVALS.path(), json_body=list(filters)
        )
        return decode(reply, dict[str, list[str]], ep.LOCKED_INTERVALS)

    async def active_locks(
        self, filters: Sequence[Mapping[str, Any] | LockFilter]
    ) -> dict[str, list[TaskLock]]:
        """`POST /activeLocks`: datasource -> `TaskLock`s held by active tasks."""
        reply = await self._transport.call(
            ep.ACTIVE_LOCKS, ep.ACTIVE_LOCKS.path(), json_body=list(filters)
        )
        return decode(reply, ActiveLocks, ep.ACTIVE_LOCKS).datasource_to_locks

    async def leader(self) -> str:
        """`GET /leader`: the leader's base URL, as this node knows it (never redirected)."""
        reply = await self._transport.call(ep.LEADER, ep.LEADER.path())
        text = reply.body.decode("utf-8", errors="replace").strip()
        if reply.status == 204 or not text:
            raise OverlordUnavailableError(
                f"{ep.LEADER.name}: the Overlord knows no leader right now (HTTP {reply.status})",
                endpoint=ep.LEADER.name,
                status=reply.status,
            )
        if not text.startswith(("http://", "https://")):
            raise protocol_error(ep.LEADER.name, reply.status, reply.body, "not a URL")
        return text

    async def is_leader(self) -> bool:
        """`GET /isLeader`: 200 on the leader, 404 `{"leader": false}` on a standby."""
        reply = await self._transport.call(ep.IS_LEADER, ep.IS_LEADER.path(), accept=(404,))
        return decode(reply, LeaderResponse, ep.IS_LEADER).leader

    async def health(self) -> bool:
        reply = await self._transport.call(ep.HEALTH, ep.HEALTH.path())
        return decode(reply, bool, ep.HEALTH)

    # --- coordinator -------------------------------------------------------------------

    async def datasource_coverage(self, datasource: str) -> DataSourceCoverage | None:
        """Coordinator view of served segments; None for an unknown datasource (204)."""
        reply = await self._transport.call(ep.COVERAGE, ep.COVERAGE.path(datasource=datasource))
        if reply.status == 204 or not reply.body.strip():
            return None
        return decode(reply, DataSourceCoverage, ep.COVERAGE)

    async def datasource_intervals(self, datasource: str) -> list[str]:
        """Intervals of served segments, newest first; [] for an unknown datasource (204)."""
        reply = await self._transport.call(
            ep.COVERAGE_INTERVALS, ep.COVERAGE_INTERVALS.path(datasource=datasource)
        )
        if reply.status == 204 or not reply.body.strip():
            return []
        return decode(reply, list[str], ep.COVERAGE_INTERVALS)
