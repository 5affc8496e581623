"""The daemon's control API (aiohttp), a thin layer over the `Orchestrator`.

    GET  /healthz                     the process is up and can record (no token needed)
    GET  /readyz                      boot reconciliation is done and we are not draining
    GET  /metrics                     Prometheus text format
    POST /v1/jobs                     submit {"spec": {...}} or {"template": {...}, "intervals": []}
    GET  /v1/jobs                     a page of jobs; ?phase=a,b &datasource= &terminal=
                                      &interval= &changed_since= &id= &limit= &cursor=
    GET  /v1/jobs/{job_id}            one job (any ever recorded) and its event history
    GET  /v1/changes                  jobs changed after ?after=POSITION (long poll: &wait=S)
    GET  /v1/datasources/{ds}/coverage   ?from=&to=: the jobs covering each interval
                                      (&view=cells: [interval, phase, job_id, accepted_at])
    POST /v1/jobs/{job_id}/cancel     cancel a job (harmless twice)
    POST /v1/jobs/{job_id}/retry      run a dead or cancelled job again {"reason": "..."}
    GET  /v1/datasources              breaker state and paused datasources
    POST /v1/datasources/{ds}/resume  resume a datasource paused by structural failures
    POST /v1/reconcile                reconcile with the Overlord now
    GET  /v1/reconcile/last           the report of the last reconciliation
    GET  /v1/openapi.json             the OpenAPI document of these routes
    GET  /ui/                         the web console (its files need no token; service/ui/)
    GET  /v1/console                  the console's settings (Druid's console URL)
    /v1/supervisors...                managed Kafka / Kinesis supervisors (supervisor_api.py)

It listens on 127.0.0.1 unless told otherwise; on any other address a bearer token is
required, and `start` refuses to listen without one. With a token, every endpoint except the
two probes needs `Authorization: Bearer <token>`. The API exists before the orchestrator has
finished booting (so the probes answer during a long recovery); until then, and once a
shutdown has begun, the `/v1` endpoints answer 503.

Before any route, `service.http.guard` refuses cross-origin and rebinding requests and
state-changing ones that are not JSON or are over a `[limits]` bound.

Errors are JSON `{"error": "..."}` with 400 (bad input), 401 (token), 403 (foreign Origin),
404 (unknown job), 413 (body too large), 415 (not JSON), 421 (not a loopback Host) or 503
(booting, shutting down, Overlord unavailable). An unexpected exception is a 500 whose
`error_id` is also on the log line that carries its traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from aiohttp import web

from actors.errors import ActorStoppedError, ConfigError, NotRetryableError, UnknownJobError
from actors.job.view import JobView
from actors.orchestrator import Orchestrator
from eventlog.errors import (
    EventLogClosedError,
    EventLogUnavailableError,
    StreamArchivedError,
    SummariesNotBuiltError,
    WriterLostError,
)
from eventlog.events import event_fields
from eventlog.records import Recorded
from eventlog.summaries import CursorError
from overlord.errors import OverlordError, OverlordUnavailableError
from overlord.redaction import redact
from service.config.checks import is_loopback
from service.http.guard import RequestGuard
from service.http.job_json import job_json, jobs_json
from service.http.openapi import openapi_document
from service.http.probes import health, readiness
from service.http.unix import unix_site
from service.intake import SubmitRequest, jobs_from_request
from service.job_queries import (
    BadQueryError,
    changes_params,
    coverage_cells,
    coverage_range,
    list_query,
    overlap_warning,
    overlord_block,
    succeeded_overlapping,
)
from service.limits import BoundExceededError, LimitsSection
from service.metrics import Metrics
from service.supervisor_api import SupervisorRoutes
from service.ui import Console
from specs.compiler import CompiledJob
from specs.errors import SpecError

if TYPE_CHECKING:
    from service.ha.standby_reads import Replication

logger = structlog.get_logger("druid_orch.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROBES = frozenset({"/healthz", "/readyz"})
_ENC = msgspec.json.Encoder()


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_ENC.encode(body), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


def recorded_dict(recorded: Recorded) -> dict[str, Any]:
    """One history entry as plain data: its place in the log plus the event's fields, every
    secret the redaction rules know masked (in the spec, and in recorded error text)."""
    body = redact(event_fields(recorded.event))
    return {
        "seq": recorded.seq,
        "version": recorded.version,
        "recorded_at": recorded.recorded_at,
        **body,
    }


class RetryRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: str = ""


class ControlApi:
    """The HTTP surface: it listens before the orchestrator is open (`serve` hands it over)
    and refuses new work once `drain` is called."""

    def __init__(
        self,
        *,
        token: str | None = None,
        metrics: Metrics | None = None,
        limits: LimitsSection = LimitsSection(),
        unix_socket: str | None = None,
        console_url: str | None = None,
    ) -> None:
        self._token = token
        self.console = Console(console_url)
        self.metrics = metrics
        self.limits = limits
        self.unix_socket = unix_socket
        self.orch: Orchestrator | None = None
        self.draining = False
        self.ha: Replication | None = None  # an HA replica's role and leader (docs/ha.md)

    def serve(self, orch: Orchestrator) -> None:
        """Answer the `/v1` endpoints from `orch`, open and booted, from now on."""
        self.orch = orch

    def drain(self) -> None:
        """Shutting down: readiness fails and requests that change something are refused."""
        self.draining = True

    def app(self, *, loopback: bool = True) -> web.Application:
        """The application; `loopback` says its TCP listener is on a loopback address, where
        `Host` must be a loopback name."""
        guard = RequestGuard(self.limits, loopback=loopback)
        app = web.Application(
            middlewares=[self._errors, guard.headers, self._auth, self._standby, guard.body],
            client_max_size=self.limits.max_body_bytes,
        )
        r = app.router
        r.add_get("/healthz", self.healthz)
        r.add_get("/readyz", self.readyz)
        r.add_get("/metrics", self.metrics_text)
        r.add_post("/v1/jobs", self.submit)
        r.add_get("/v1/jobs", self.list_jobs)
        r.add_get("/v1/jobs/{job_id}", self.job)
        r.add_post("/v1/jobs/{job_id}/cancel", self.cancel)
        r.add_post("/v1/jobs/{job_id}/retry", self.retry)
        r.add_get("/v1/changes", self.changes)
        r.add_get("/v1/datasources", self.datasources)
        r.add_get("/v1/datasources/{datasource}/coverage", self.coverage)
        r.add_post("/v1/datasources/{datasource}/resume", self.resume)
        r.add_post("/v1/reconcile", self.reconcile)
        r.add_get("/v1/reconcile/last", self.last_reconcile)
        r.add_get("/v1/openapi.json", self.openapi)
        SupervisorRoutes(self._running).register(r)
        self.console.register(r)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 8642) -> tuple[web.AppRunner, str]:
        """Listen on host:port (0 picks a free port); returns the runner and the base URL.

        Raises:
            ConfigError: the address is not loopback and no token is configured.
        """
        if not is_loopback(host) and not self._token:
            raise ConfigError(
                f"refusing to serve the control API on {host!r} without a bearer token "
                "(set api.token_file or DRUID_ORCH_API_TOKEN, or listen on 127.0.0.1)"
            )
        runner = web.AppRunner(
            self.app(loopback=is_loopback(host)), access_log=None, shutdown_timeout=5.0
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
            if self.unix_socket is not None:
                await unix_site(runner, self.unix_socket).start()
        except ConfigError:
            await runner.cleanup()
            raise
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"cannot serve the control API on {host}:{port}: {exc.strerror or exc} "
                "(api.host, api.port)"
            ) from exc
        bound = runner.addresses[0]
        shown = f"[{bound[0]}]" if ":" in str(bound[0]) else str(bound[0])
        return runner, f"http://{shown}:{bound[1]}"

    # --- middlewares -------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        exempt = request.path in PROBES or Console.is_asset(request.method, request.path)
        if self._token and not exempt:
            header = request.headers.get("Authorization", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self._token.encode()
            ):
                logger.warning("api_unauthorized", path=request.path, remote=request.remote)
                return web.Response(
                    body=_ENC.encode({"error": "a valid bearer token is required"}),
                    status=401,
                    content_type="application/json",
                    headers={"WWW-Authenticate": 'Bearer realm="druid-orch"'},
                )
        return await handler(request)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400 and exc.content_type != "application/json":
                return _error(exc.status, exc.reason)
            raise
        except _UnavailableError as exc:
            return _error(503, str(exc))
        except BoundExceededError as exc:
            return _error(exc.status, str(exc))
        except UnknownJobError as exc:
            return _error(404, str(exc))
        except (NotRetryableError, StreamArchivedError) as exc:
            return _error(409, str(exc))
        except SpecError as exc:
            return _error(400, str(exc))
        except OverlordUnavailableError as exc:
            return _error(503, f"the Overlord is unavailable: {exc}")
        except (BadQueryError, CursorError) as exc:
            return _error(400, str(exc))
        except SummariesNotBuiltError as exc:
            return _error(503, str(exc))
        except EventLogUnavailableError as exc:
            return _error(503, f"nothing was recorded: {exc}")
        except EventLogClosedError:  # a long poll still waiting when shutdown closed the log
            return _error(503, "shutting down: the event log is closed")
        except WriterLostError as exc:  # retryable: a repeat finds what was committed
            return _error(503, f"the event log's writer was lost; send it again: {exc}")
        except ActorStoppedError as exc:  # a job's actor kept crashing: try again later
            return _error(503, str(exc))
        except OverlordError as exc:
            return _error(502, f"the Overlord refused: {exc}")
        except Exception as exc:
            # The answer names no detail (it could quote a spec); the id finds the log line.
            error_id = secrets.token_hex(8)
            logger.error(
                "api_internal_error",
                error_id=error_id,
                method=request.method,
                path=request.path,
                error=f"{type(exc).__name__}: {exc}",
                traceback="".join(traceback.format_exception(exc)),
            )
            return _json({"error": "internal error", "error_id": error_id}, 500)

    @web.middleware
    async def _standby(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.ha is None:
            return await handler(request)
        return await self.ha.answer(request, handler)

    def _running(self, *, mutating: bool = False) -> Orchestrator:
        if self.orch is None:
            raise _UnavailableError("booting: boot reconciliation has not finished")
        if mutating and self.draining:
            raise _UnavailableError("shutting down: not accepting work")
        return self.orch

    # --- probes and metrics ------------------------------------------------------------

    async def healthz(self, _request: web.Request) -> web.Response:
        return _json(*health(self.orch))

    async def readyz(self, _request: web.Request) -> web.Response:
        return _json(*readiness(self.orch, draining=self.draining, ha=self.ha))

    async def metrics_text(self, _request: web.Request) -> web.Response:
        if self.metrics is None:
            return _error(404, "metrics are not enabled")
        from prometheus_client import CONTENT_TYPE_LATEST

        if self.orch is not None:
            await self.metrics.refresh_phases()
        return web.Response(
            body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    # --- jobs --------------------------------------------------------------------------

    async def submit(self, request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        try:
            body = msgspec.json.decode(await request.read(), type=SubmitRequest)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _error(400, f"bad request body: {exc}")
        prefix = orch.config.task_id_prefix
        if body.task_id_prefix != prefix:
            body = msgspec.structs.replace(body, task_id_prefix=prefix)
        jobs = jobs_from_request(body, limits=self.limits)
        warning = overlap_warning(jobs, await succeeded_overlapping(orch.queries, jobs))
        views = await _submit_all(orch, jobs)
        logger.info("api_submitted", jobs=len(views), warning=warning)
        # The jobs are submitted (a client asked for them); the warning says what they redo.
        return _json({"jobs": jobs_json(views), **({"warning": warning} if warning else {})}, 202)

    async def list_jobs(self, request: web.Request) -> web.Response:
        orch = self._running()
        query = list_query(request.query, request.query.getall("id", []))
        if query is None:
            return _json({"jobs": [], "next": None})
        page = await orch.queries.page(query)
        return _json({"jobs": jobs_json(page.jobs), "next": page.next})

    async def changes(self, request: web.Request) -> web.Response:
        orch = self._running()
        after, limit, wait = changes_params(request.query)
        head = await orch.log.last_seq()
        found = await orch.queries.changes(after, limit=limit, wait_s=wait)
        return _json({"jobs": jobs_json(found.jobs), "position": found.position, "head": head})

    async def coverage(self, request: web.Request) -> web.Response:
        orch = self._running()
        datasource = request.match_info["datasource"]
        start, end = coverage_range(request.query)
        cells = coverage_cells(request.query)
        if cells:  # the console's calendar: a quarter of the bytes for 10,000 chunks
            rows = await orch.queries.coverage_cells(datasource, start, end)
            return _json({"datasource": datasource, "from": start, "to": end, "cells": rows})
        views = await orch.queries.coverage(datasource, start, end)
        return _json({"datasource": datasource, "from": start, "to": end, "jobs": jobs_json(views)})

    async def job(self, request: web.Request) -> web.Response:
        orch = self._running()
        job_id = request.match_info["job_id"]
        view = await orch.get(job_id)  # raises UnknownJobError: a 404
        assert view is not None
        history = await orch.history(job_id)
        return _json({"job": job_json(view), "events": [recorded_dict(r) for r in history]})

    async def cancel(self, request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        view = await orch.cancel(request.match_info["job_id"], reason="api")
        return _json({"job": job_json(view)})

    async def retry(self, request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        reason = ""
        if request.body_exists:
            try:
                body = msgspec.json.decode(await request.read(), type=RetryRequest)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                return _error(400, f"bad retry request: {exc}")
            reason = body.reason
        view = await orch.retry(request.match_info["job_id"], reason=reason, by="api")
        return _json({"job": job_json(view)})

    # --- datasources and reconciliation ------------------------------------------------

    async def datasources(self, _request: web.Request) -> web.Response:
        orch = self._running()
        return _json(
            {
                "overlord_breaker": orch.breakers.overlord_phase,
                "overlord": overlord_block(orch.breakers.overlord_health()),
                "paused": orch.breakers.paused,
            }
        )

    async def resume(self, request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        datasource = request.match_info["datasource"]
        resumed = orch.resume_datasource(datasource, by="api")
        return _json({"datasource": datasource, "resumed": resumed})

    async def reconcile(self, _request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        report = await orch.reconcile()
        return _json(report)

    async def last_reconcile(self, _request: web.Request) -> web.Response:
        orch = self._running()
        if orch.last_reconcile is None:
            return _error(404, "no reconciliation has run yet")
        return _json(orch.last_reconcile)

    async def openapi(self, _request: web.Request) -> web.Response:
        return _json(openapi_document())


# Acceptances in flight at once for one request: one at a time, a backfill of 10,000 days
# waited for 10,000 commits in a row; together they share group commits.
SUBMIT_CONCURRENCY = 64


async def _submit_all(orch: Orchestrator, jobs: list[CompiledJob]) -> list[JobView]:
    """Accept every job of one request, in its order, a bounded number at a time."""
    limit = asyncio.Semaphore(SUBMIT_CONCURRENCY)

    async def one(job: CompiledJob) -> JobView:
        async with limit:
            return await orch.submit(job)

    return list(await asyncio.gather(*(one(job) for job in jobs)))


class _UnavailableError(Exception):
    """Raised by a handler that cannot serve now (booting, draining): answered with 503."""
