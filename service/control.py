"""The two ways the CLI drives an orchestrator, behind one interface.

* `RemoteControl` talks to a running daemon's control API (`--api URL`, bearer token from
  `--token-file` or `DRUID_ORCH_API_TOKEN`).
* `EmbeddedControl` opens the orchestrator in this process on a local log and Overlord
  (`--db`, `--overlord`, or `--config`). Job ids are deterministic and the log keeps every
  intent, so running the same `submit` again after a crash finds the same jobs and resumes
  them instead of submitting twice.

Both return `JobView`s, so the commands print the same way whichever is used.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Protocol

import aiohttp
import msgspec

from actors.errors import OrchestratorError
from actors.job.view import JobView
from actors.orchestrator import Orchestrator
from actors.supervision.alerts import AlertSink
from eventlog.summaries import MAX_PAGE
from service.config import Config
from service.daemon import alert_sink, overlord_client
from service.http.job_json import recorded_dict, view_of_json, views_of_json
from service.intake import SubmitRequest, jobs_from_request
from service.limits import LimitsSection

_JSON = {"Content-Type": "application/json"}

# Job ids per `GET /v1/jobs?id=...` request: 50 ids of about 70 characters keep the request
# line well under the 8 KiB servers accept (aiohttp's limit).
ID_BATCH = 50
SUBMIT_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=600)


class ControlError(OrchestratorError):
    """The daemon refused a request or could not be reached; the message says which."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class Control(Protocol):
    async def submit(self, requests: Sequence[SubmitRequest]) -> list[JobView]: ...

    async def views(self, ids: Sequence[str] | None = None) -> list[JobView]: ...

    async def head(self) -> int:
        """The log's position now: changes after it are changes from now on."""
        ...

    async def changes(self, after: int, wait_s: float) -> tuple[list[JobView], int]:
        """Jobs changed after log position `after` (waiting up to `wait_s` for one), and the
        position to ask after next."""
        ...

    async def history(self, job_id: str) -> list[dict[str, Any]]: ...

    async def cancel(self, job_id: str) -> JobView: ...

    async def retry(self, job_id: str, reason: str) -> JobView: ...

    async def settle(self, views: Sequence[JobView], timeout: float) -> list[JobView]:
        """The jobs' views once whoever drives them has had up to `timeout` to end them."""
        ...

    async def resume(self, datasource: str) -> bool: ...

    async def reconcile(self) -> dict[str, Any]: ...


class RemoteControl:
    """A client of the control API."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str | None) -> None:
        self._session = session
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = self._url + path
        # Every state-changing call says JSON, with a body or without: the API refuses
        # anything else (a browser can send those cross-site without asking).
        headers = self._headers if method == "GET" else {**self._headers, **_JSON}
        try:
            async with self._session.request(
                method, url, headers=headers, allow_redirects=False, **kwargs
            ) as response:
                body = await response.read()
                status = response.status
                leader = response.headers.get("Location") if status == 307 else None
            if leader is not None:
                # A standby replica names the leader (docs/ha.md): ask it once, with the
                # same token (aiohttp would drop it on the way to another host).
                async with self._session.request(
                    method, leader, headers=headers, allow_redirects=False, **kwargs
                ) as response:
                    body = await response.read()
                    status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ControlError(
                f"cannot reach the daemon at {self._url}: {str(exc) or type(exc).__name__}"
            ) from exc
        try:
            data = msgspec.json.decode(body) if body else None
        except msgspec.DecodeError:
            data = None
        if status >= 400:
            detail = (
                data.get("error") if isinstance(data, dict) else body[:200].decode(errors="replace")
            )
            raise ControlError(f"{method} {path}: HTTP {status}: {detail}", status)
        return data

    async def submit(self, requests: Sequence[SubmitRequest]) -> list[JobView]:
        views: list[JobView] = []
        for request in requests:
            # Thousands of jobs in one request take a while to accept, and acceptance is
            # idempotent: no total limit, only one on silence.
            data = await self._call(
                "POST", "/v1/jobs", data=msgspec.json.encode(request), timeout=SUBMIT_TIMEOUT
            )
            views.extend(views_of_json(data["jobs"]))
        return views

    async def views(
        self,
        ids: Sequence[str] | None = None,
        *,
        phases: Iterable[str] = (),
        datasource: str | None = None,
        interval: str | None = None,
    ) -> list[JobView]:
        """The jobs named (in batches of `ID_BATCH` a request), or every job matching the
        filters, a page at a time: no request line grows with the number of jobs."""
        filters = [("phase", ",".join(sorted(phases)))] if phases else []
        if datasource is not None:
            filters.append(("datasource", datasource))
        if interval is not None:
            filters.append(("interval", interval))
        if ids:
            found: list[JobView] = []
            unique = list(dict.fromkeys(ids))
            for start in range(0, len(unique), ID_BATCH):
                batch = [("id", i) for i in unique[start : start + ID_BATCH]]
                found += await self._pages([*filters, *batch])
            return found
        return await self._pages(filters)

    async def _pages(self, params: list[tuple[str, str]]) -> list[JobView]:
        views: list[JobView] = []
        cursor: str | None = None
        while True:
            page = [*params, ("limit", str(MAX_PAGE))] + ([("cursor", cursor)] if cursor else [])
            data = await self._call("GET", "/v1/jobs", params=page)
            views += views_of_json(data["jobs"])
            cursor = data.get("next")
            if not cursor:
                return views

    async def coverage(self, datasource: str, start: str | None, end: str | None) -> list[JobView]:
        params = {k: v for k, v in (("from", start), ("to", end)) if v is not None}
        data = await self._call("GET", f"/v1/datasources/{datasource}/coverage", params=params)
        return views_of_json(data["jobs"])

    async def head(self) -> int:
        data = await self._call("GET", "/v1/changes", params={"after": "0", "limit": "1"})
        return int(data["head"])

    async def changes(self, after: int, wait_s: float) -> tuple[list[JobView], int]:
        params = {"after": str(after), "wait": f"{wait_s:g}"}
        data = await self._call("GET", "/v1/changes", params=params)
        return views_of_json(data["jobs"]), int(data["position"])

    async def history(self, job_id: str) -> list[dict[str, Any]]:
        data = await self._call("GET", f"/v1/jobs/{job_id}")
        events: list[dict[str, Any]] = data["events"]
        return events

    async def cancel(self, job_id: str) -> JobView:
        data = await self._call("POST", f"/v1/jobs/{job_id}/cancel")
        return view_of_json(data["job"])

    async def retry(self, job_id: str, reason: str) -> JobView:
        body = msgspec.json.encode({"reason": reason})
        data = await self._call("POST", f"/v1/jobs/{job_id}/retry", data=body)
        return view_of_json(data["job"])

    async def settle(self, views: Sequence[JobView], timeout: float) -> list[JobView]:
        return list(views)  # the daemon carries on with them after this command

    async def datasources(self) -> dict[str, Any]:
        """The Overlord's breaker and the paused datasources (`GET /v1/datasources`)."""
        data: dict[str, Any] = await self._call("GET", "/v1/datasources")
        return data

    async def resume(self, datasource: str) -> bool:
        data = await self._call("POST", f"/v1/datasources/{datasource}/resume")
        return bool(data["resumed"])

    async def reconcile(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("POST", "/v1/reconcile")
        return data


class EmbeddedControl:
    """The orchestrator itself, opened in this process."""

    def __init__(self, orch: Orchestrator, limits: LimitsSection = LimitsSection()) -> None:
        self.orch = orch
        self.limits = limits
        self._reconciled = False

    async def submit(self, requests: Sequence[SubmitRequest]) -> list[JobView]:
        prefix = self.orch.config.task_id_prefix
        views: list[JobView] = []
        for request in requests:
            request = msgspec.structs.replace(request, task_id_prefix=prefix)
            for job in jobs_from_request(request, limits=self.limits):
                views.append(await self.orch.submit(job))
        return views

    async def views(self, ids: Sequence[str] | None = None) -> list[JobView]:
        if ids is None:
            return self.orch.jobs()
        found = [await self.orch.get(i, missing_ok=True) for i in ids]
        return [v for v in found if v is not None]

    async def head(self) -> int:
        return await self.orch.log.last_seq()

    async def changes(self, after: int, wait_s: float) -> tuple[list[JobView], int]:
        found = await self.orch.queries.changes(after, limit=MAX_PAGE, wait_s=wait_s)
        return found.jobs, found.position

    async def history(self, job_id: str) -> list[dict[str, Any]]:
        await self.orch.get(job_id)  # raises UnknownJobError
        return [recorded_dict(r) for r in await self.orch.history(job_id)]

    async def cancel(self, job_id: str) -> JobView:
        return await self.orch.cancel(job_id, reason="cli")

    async def retry(self, job_id: str, reason: str) -> JobView:
        return await self.orch.retry(job_id, reason=reason, by="cli")

    async def settle(self, views: Sequence[JobView], timeout: float) -> list[JobView]:
        # This process is the only one driving the jobs, and it stops with the command.
        async def one(view: JobView) -> JobView:
            if view.terminal:
                return view
            try:
                return await self.orch.wait(view.job_id, timeout=timeout)
            except TimeoutError:
                return await self.orch.get(view.job_id) or view

        return list(await asyncio.gather(*(one(v) for v in views)))

    async def resume(self, datasource: str) -> bool:
        return self.orch.resume_datasource(datasource, by="cli")

    async def reconcile(self) -> dict[str, Any]:
        # Opening the orchestrator reconciled it with the Overlord, and that run made the
        # decisions: a second one right after would find nothing left and report that.
        report = self.orch.last_reconcile
        if report is None or report.error is not None or self._reconciled:
            report = await self.orch.reconcile()
        self._reconciled = True
        result: dict[str, Any] = msgspec.to_builtins(report)
        return result


@contextlib.asynccontextmanager
async def remote(url: str, token: str | None) -> AsyncIterator[RemoteControl]:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield RemoteControl(session, url, token)


@contextlib.asynccontextmanager
async def embedded(
    config: Config, alerts: AlertSink | None = None
) -> AsyncIterator[EmbeddedControl]:
    """`alerts`: where alerts go (default: the daemon's, the log and any webhook)."""
    client = overlord_client(config)
    try:
        async with Orchestrator.open(
            config.eventlog.db,
            client,
            config=config.orchestrator,
            alerts=alerts or alert_sink(config),
        ) as orch:
            yield EmbeddedControl(orch, config.limits)
    finally:
        await client.close()
