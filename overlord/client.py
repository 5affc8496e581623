"""The Overlord (and Coordinator) REST client.

`HttpOverlord` owns one `aiohttp.ClientSession` (connection pooling, keep-alive) and does all
of its HTTP in `_request`, the one place where paths are joined, auth is applied, standby
redirects are followed, retries happen, and failures become `overlord.errors` exceptions.

Retries: idempotent calls (every GET, the read-only POSTs such as `/taskStatus`, and shutdown,
which is harmless on a finished task) retry retryable failures with exponential backoff and
full jitter, a bounded number of times. `POST /task` is never retried blindly on a transport
error, because the task may have landed; the caller (the task actor) decides, using its
write-ahead intent and the duplicate-id answer. A 503 (no leader, not ready) is retried for
every call: Druid answers it before touching the request.
"""

from __future__ import annotations

import asyncio
import random
import re
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
import msgspec

from overlord.auth import AuthHook
from overlord.errors import (
    OverlordAuthError,
    OverlordError,
    OverlordProtocolError,
    OverlordRejectedError,
    OverlordUnavailableError,
    SupervisorNotFoundError,
    TaskAlreadyExistsError,
    TaskNotFoundError,
)
from overlord.models import (
    DataSourceCoverage,
    SubmitResponse,
    SupervisorState,
    SupervisorStatus,
    TaskPayloadResponse,
    TaskStatus,
    TaskStatusPlus,
    TaskStatusResponse,
    TotalWorkerCapacity,
    WorkerInfo,
)

T = TypeVar("T")
TaskState = Literal["pending", "waiting", "running", "complete"]

INDEXER = "/druid/indexer/v1"
COORDINATOR = "/druid/coordinator/v1"
_SNIPPET = 300
_DUPLICATE = re.compile(r"^Task ?\[(?P<id>.*)\] already exists[.!]?$", re.DOTALL)
_MISSING_TASK = re.compile(r"^Cannot find any task with id: \[(?P<id>.*)\]")
_MISSING_SUPERVISOR = re.compile(r"^Cannot find any supervisor with id: \[(?P<id>.*)\]")


class _DruidError(msgspec.Struct):
    """Both error body formats: DruidException and legacy `{"error": ...}`."""

    error: str | None = None
    errorCode: str | None = None
    errorMessage: str | None = None


class RetryPolicy(msgspec.Struct, frozen=True):
    attempts: int = 4
    base_s: float = 0.2
    cap_s: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return rng.uniform(0.0, min(self.cap_s, self.base_s * (2**attempt)))


class HttpOverlord:
    """Async client for the Druid Overlord API (and the Coordinator's coverage endpoints)."""

    def __init__(
        self,
        url: str,
        *,
        coordinator_url: str | None = None,
        auth: AuthHook | None = None,
        timeout_s: float = 30.0,
        verify_tls: bool = True,
        ca_bundle: str | None = None,
        retry: RetryPolicy = RetryPolicy(),
        session: aiohttp.ClientSession | None = None,
        max_connections: int = 32,
        rng: random.Random | None = None,
    ) -> None:
        self._configured = url.rstrip("/")
        self._leader = self._configured
        self._coordinator = (coordinator_url or url).rstrip("/")
        self._auth = auth
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retry = retry
        self._rng = rng or random.Random()
        self._ssl: ssl.SSLContext | bool = True
        if not verify_tls:
            self._ssl = False
        elif ca_bundle:
            self._ssl = ssl.create_default_context(cafile=ca_bundle)
        self._session = session
        self._owns_session = session is None
        self._max_connections = max_connections
        self.requests = 0

    @property
    def leader_url(self) -> str:
        """The Overlord that answered last (after following standby redirects)."""
        return self._leader

    async def __aenter__(self) -> HttpOverlord:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, ssl=self._ssl),
                timeout=self._timeout,
            )
        return self._session

    # --- tasks -------------------------------------------------------------------------

    async def submit(self, task: Mapping[str, Any]) -> str:
        """`POST /task`. Returns the task id. Never retried on transport errors.

        Raises:
            TaskAlreadyExistsError: a task with this id is stored (running or finished).
            OverlordRejectedError: the spec was refused (400), or auth failed (401/403).
            OverlordUnavailableError: transport error or 5xx; the task may or may not exist.
        """
        body = await self._request(
            "POST", f"{INDEXER}/task", json_body=task, endpoint="submit", idempotent=False
        )
        return self._decode(body, SubmitResponse, "submit").task

    async def status(self, task_id: str) -> TaskStatusPlus:
        """`GET /task/{id}/status`. Raises `TaskNotFoundError` for an unknown id."""
        body = await self._request(
            "GET", f"{INDEXER}/task/{_seg(task_id)}/status", endpoint="status", task_id=task_id
        )
        response = self._decode(body, TaskStatusResponse, "status")
        if response.status is None:  # the resource-level 404 race, reached with a 200 body
            raise TaskNotFoundError(task_id, endpoint="status", status=404)
        return response.status

    async def bulk_status(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        """`POST /taskStatus`. Unknown ids are absent from the result."""
        if not task_ids:
            return {}
        body = await self._request(
            "POST", f"{INDEXER}/taskStatus", json_body=list(task_ids), endpoint="bulk_status"
        )
        return self._decode(body, dict[str, TaskStatus], "bulk_status")

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
        body = await self._request("GET", f"{INDEXER}/tasks", params=params, endpoint="tasks")
        return self._decode(body, list[TaskStatusPlus], "tasks")

    async def task_spec(self, task_id: str) -> dict[str, Any]:
        """`GET /task/{id}`: the stored task JSON with defaults filled in."""
        body = await self._request(
            "GET", f"{INDEXER}/task/{_seg(task_id)}", endpoint="task_spec", task_id=task_id
        )
        payload = self._decode(body, TaskPayloadResponse, "task_spec").payload
        if payload is None:
            raise TaskNotFoundError(task_id, endpoint="task_spec", status=404)
        return payload

    async def reports(self, task_id: str) -> dict[str, Any] | None:
        """`GET /task/{id}/reports`, or None when the Overlord has no report (yet)."""
        try:
            body = await self._request(
                "GET",
                f"{INDEXER}/task/{_seg(task_id)}/reports",
                endpoint="reports",
                task_id=task_id,
            )
        except OverlordRejectedError as exc:
            if exc.status == 404 and not isinstance(exc, TaskNotFoundError):
                return None
            raise
        return self._decode(body, dict[str, Any], "reports")

    async def log(self, task_id: str, offset: int = 0) -> str | None:
        """`GET /task/{id}/log?offset=N` (bytes; negative = tail). None when there is no log."""
        try:
            body = await self._request(
                "GET",
                f"{INDEXER}/task/{_seg(task_id)}/log",
                params={"offset": str(offset)},
                endpoint="log",
                task_id=task_id,
            )
        except OverlordRejectedError as exc:
            if exc.status == 404 and not isinstance(exc, TaskNotFoundError):
                return None
            raise
        return body.decode("utf-8", errors="replace")

    async def follow_log(self, task_id: str, *, poll_s: float = 2.0) -> AsyncIterator[str]:
        """Yield new log text as the task writes it, until it has finished and is drained."""
        offset = 0
        while True:
            text = await self.log(task_id, offset)
            if text:
                offset += len(text.encode("utf-8"))
                yield text
                continue
            status = await self.status(task_id)
            if status.status_code != "RUNNING":
                text = await self.log(task_id, offset)
                if text:
                    yield text
                return
            await asyncio.sleep(poll_s)

    async def shutdown(self, task_id: str) -> None:
        """`POST /task/{id}/shutdown`. Harmless on a finished task (200, no-op)."""
        await self._request(
            "POST",
            f"{INDEXER}/task/{_seg(task_id)}/shutdown",
            endpoint="shutdown",
            task_id=task_id,
        )

    async def shutdown_all(self, datasource: str) -> bool:
        """Shut down every active task of a datasource. False when there was none."""
        try:
            await self._request(
                "POST",
                f"{INDEXER}/datasources/{_seg(datasource)}/shutdownAllTasks",
                endpoint="shutdown_all",
            )
        except OverlordRejectedError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # --- cluster -----------------------------------------------------------------------

    async def workers(self) -> list[WorkerInfo]:
        body = await self._request("GET", f"{INDEXER}/workers", endpoint="workers")
        return self._decode(body, list[WorkerInfo], "workers")

    async def total_capacity(self) -> TotalWorkerCapacity:
        body = await self._request(
            "GET", f"{INDEXER}/totalWorkerCapacity", endpoint="total_capacity"
        )
        return self._decode(body, TotalWorkerCapacity, "total_capacity")

    async def locked_intervals(self, filters: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
        body = await self._request(
            "POST", f"{INDEXER}/lockedIntervals/v2", json_body=list(filters), endpoint="locks"
        )
        return self._decode(body, dict[str, list[str]], "locks")

    async def active_locks(self, filters: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        body = await self._request(
            "POST", f"{INDEXER}/activeLocks", json_body=list(filters), endpoint="active_locks"
        )
        return self._decode(body, dict[str, Any], "active_locks")

    async def leader(self) -> str:
        body = await self._request("GET", f"{INDEXER}/leader", endpoint="leader", follow=False)
        return body.decode().strip()

    async def is_leader(self) -> bool:
        try:
            body = await self._request(
                "GET", f"{INDEXER}/isLeader", endpoint="is_leader", follow=False
            )
        except OverlordRejectedError as exc:
            if exc.status == 404:
                return False
            raise
        return bool(self._decode(body, dict[str, bool], "is_leader").get("leader", False))

    async def health(self) -> bool:
        body = await self._request("GET", "/status/health", endpoint="health", follow=False)
        return self._decode(body, bool, "health")

    # --- supervisors -------------------------------------------------------------------

    async def supervisors(self) -> list[str]:
        body = await self._request("GET", f"{INDEXER}/supervisor", endpoint="supervisors")
        return self._decode(body, list[str], "supervisors")

    async def supervisor_states(self) -> list[SupervisorState]:
        body = await self._request(
            "GET", f"{INDEXER}/supervisor", params={"state": "true"}, endpoint="supervisors"
        )
        return self._decode(body, list[SupervisorState], "supervisors")

    async def supervisor_status(self, supervisor_id: str) -> SupervisorStatus:
        body = await self._request(
            "GET",
            f"{INDEXER}/supervisor/{_seg(supervisor_id)}/status",
            endpoint="supervisor_status",
            supervisor_id=supervisor_id,
        )
        return self._decode(body, SupervisorStatus, "supervisor_status")

    async def supervisor_spec(self, supervisor_id: str) -> dict[str, Any]:
        body = await self._request(
            "GET",
            f"{INDEXER}/supervisor/{_seg(supervisor_id)}",
            endpoint="supervisor_spec",
            supervisor_id=supervisor_id,
        )
        return self._decode(body, dict[str, Any], "supervisor_spec")

    async def datasource_coverage(self, datasource: str) -> DataSourceCoverage | None:
        """Coordinator view of served segments; None for an unknown datasource (204)."""
        body = await self._request(
            "GET",
            f"{COORDINATOR}/datasources/{_seg(datasource)}",
            endpoint="coverage",
            base="coordinator",
        )
        if not body:
            return None
        return self._decode(body, DataSourceCoverage, "coverage")

    async def datasource_intervals(self, datasource: str) -> list[str]:
        body = await self._request(
            "GET",
            f"{COORDINATOR}/datasources/{_seg(datasource)}/intervals",
            endpoint="coverage_intervals",
            base="coordinator",
        )
        if not body:
            return []
        return self._decode(body, list[str], "coverage_intervals")

    # --- the one place that does HTTP --------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool = True,
        follow: bool = True,
        base: Literal["overlord", "coordinator"] = "overlord",
        task_id: str | None = None,
        supervisor_id: str | None = None,
    ) -> bytes:
        data = msgspec.json.encode(json_body) if json_body is not None else None
        attempt = 0
        redirects = 0
        root = self._leader if base == "overlord" else self._coordinator
        url = root + path
        while True:
            headers = {"Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            if self._auth is not None:
                await self._auth(method, url, headers)
            try:
                self.requests += 1
                async with self._get_session().request(
                    method,
                    url,
                    data=data,
                    params=params,
                    headers=headers,
                    allow_redirects=False,
                    ssl=self._ssl,
                ) as response:
                    status = response.status
                    body = await response.read()
                    location = response.headers.get("Location")
                    content_type = response.headers.get("Content-Type", "")
            except TimeoutError as exc:
                error: OverlordError = OverlordUnavailableError(
                    f"{method} {path} timed out after {self._timeout.total}s", endpoint=endpoint
                )
                error.__cause__ = exc
                sent = True
            except aiohttp.ClientConnectorError as exc:
                # Never reached the server: safe to retry even a POST /task.
                error = OverlordUnavailableError(
                    f"{method} {path}: cannot connect to {root}: {exc.os_error}",
                    endpoint=endpoint,
                )
                error.__cause__ = exc
                sent = False
            except aiohttp.ClientError as exc:
                error = OverlordUnavailableError(
                    f"{method} {path} failed in transit: {type(exc).__name__}: {exc}",
                    endpoint=endpoint,
                )
                error.__cause__ = exc
                sent = True
            else:
                if status in (307, 308) and follow and location and redirects < 5:
                    redirects += 1
                    url = self._follow(location, path, base)
                    continue
                if 200 <= status < 300:
                    return body
                error = _map_error(
                    method, path, endpoint, status, body, content_type, task_id, supervisor_id
                )
                sent = status != 503
            if not error.retryable or attempt + 1 >= self._retry.attempts:
                raise error
            if not idempotent and sent:
                raise error
            await asyncio.sleep(self._retry.delay(attempt, self._rng))
            attempt += 1
            if base == "overlord" and status_is_leader_loss(error):
                self._leader = self._configured
                url = self._leader + path

    def _follow(self, location: str, path: str, base: str) -> str:
        target = urlsplit(location)
        if not target.scheme:  # a relative Location: same host
            return _origin(self._leader) + location
        if base == "overlord":
            self._leader = f"{target.scheme}://{target.netloc}"
        return location

    @staticmethod
    def _decode(body: bytes, type_: type[T], endpoint: str) -> T:
        try:
            return msgspec.json.decode(body, type=type_)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise OverlordProtocolError(
                f"{endpoint}: cannot decode the Overlord's reply: {exc}; body starts "
                f"{_snippet(body)!r}",
                endpoint=endpoint,
                status=200,
                body_snippet=_snippet(body),
            ) from exc


def status_is_leader_loss(error: OverlordError) -> bool:
    return isinstance(error, OverlordUnavailableError) and error.status in (None, 503)


def _map_error(
    method: str,
    path: str,
    endpoint: str,
    status: int,
    body: bytes,
    content_type: str,
    task_id: str | None,
    supervisor_id: str | None,
) -> OverlordError:
    snippet = _snippet(body)
    code: str | None = None
    message: str | None = None
    if body[:1] == b"{":
        try:
            parsed = msgspec.json.decode(body, type=_DruidError)
        except (msgspec.DecodeError, msgspec.ValidationError):
            parsed = None
        if parsed is not None:
            if parsed.error == "druidException":
                code, message = parsed.errorCode, parsed.errorMessage
            else:
                message = parsed.error or parsed.errorMessage
    elif "html" not in content_type.lower():
        message = body.decode("utf-8", errors="replace").strip() or None
    facts: dict[str, Any] = {
        "endpoint": endpoint,
        "status": status,
        "error_code": code,
        "druid_message": message,
        "body_snippet": snippet,
    }
    described = f"{method} {path} -> HTTP {status}"
    if message:
        described += f": {message}"
    elif snippet:
        described += f" (body starts {snippet[:80]!r})"
    if status == 400 and message:
        duplicate = _DUPLICATE.match(message)
        if duplicate and (code in (None, "entryAlreadyExists", "invalidInput")):
            return TaskAlreadyExistsError(duplicate.group("id"), **facts)
    if status == 404 and message:
        if _MISSING_TASK.match(message):
            return TaskNotFoundError(task_id or _MISSING_TASK.match(message).group("id"), **facts)  # type: ignore[union-attr]
        if _MISSING_SUPERVISOR.match(message):
            sid = supervisor_id or _MISSING_SUPERVISOR.match(message).group("id")  # type: ignore[union-attr]
            return SupervisorNotFoundError(sid, **facts)
    if status in (401, 403):
        return OverlordAuthError(described, **facts)
    if status == 429 or status >= 500:
        return OverlordUnavailableError(described, **facts)
    return OverlordRejectedError(described, **facts)


def _snippet(body: bytes) -> str:
    return body[:_SNIPPET].decode("utf-8", errors="replace")


def _seg(value: str) -> str:
    return quote(value, safe="")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
