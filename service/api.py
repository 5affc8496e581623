"""The daemon's control API (aiohttp), a thin layer over the `Orchestrator`: the application,
what it puts around every route, and where it listens. The routes, by resource:

    GET  /healthz                     the process is up and can record (no token needed)
    GET  /readyz                      boot reconciliation is done and we are not draining
    GET  /metrics                     Prometheus text format
    /v1/jobs..., /v1/changes          jobs: submit, list, one, cancel, retry (service/http/jobs.py)
    /v1/datasources...                breakers, coverage, resume (service/http/datasources.py)
    /v1/reconcile...                  reconcile now, the last report (service/http/reconcile.py)
    GET  /v1/openapi.json             the OpenAPI document of these routes
    GET  /ui/                         the web console (its files need no token; service/ui/)
    GET  /v1/console                  the console's settings (Druid's console URL)
    /v1/supervisors...                managed Kafka / Kinesis supervisors
                                      (service/http/supervisors.py)

It listens on 127.0.0.1 unless told otherwise; on any other address a bearer token is
required, and `start` refuses to listen without one. With a token, every endpoint except the
two probes needs `Authorization: Bearer <token>`. The API exists before the orchestrator has
finished booting (so the probes answer during a long recovery); until then, and once a
shutdown has begun, the `/v1` endpoints answer 503.

Before any route, `service.http.guard` refuses cross-origin and rebinding requests and
state-changing ones that are not JSON or are over a `[limits]` bound.

Errors are JSON `{"error": "..."}` with 400 (bad input), 401 (token), 403 (foreign Origin),
404 (unknown job), 413 (body too large), 415 (not JSON), 421 (not a loopback Host) or 503
(booting, shutting down, Overlord unavailable); `service.http.errors` maps each exception. An
unexpected exception is a 500 whose `error_id` is also on the log line that carries its
traceback.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from actors.errors import ConfigError
from actors.orchestrator import Orchestrator
from service.config.checks import is_loopback
from service.http.datasources import DatasourceRoutes
from service.http.errors import UnavailableError, answer_errors
from service.http.guard import RequestGuard
from service.http.jobs import JobRoutes
from service.http.openapi import openapi_document
from service.http.probes import health, readiness
from service.http.reconcile import ReconcileRoutes
from service.http.responses import Handler, error_response, json_response
from service.http.supervisors import SupervisorRoutes
from service.http.unix import unix_site
from service.limits import LimitsSection
from service.metrics import Metrics
from service.ui import Console

if TYPE_CHECKING:
    from service.ha.standby_reads import Replication

logger = structlog.get_logger("druid_orch.api")

PROBES = frozenset({"/healthz", "/readyz"})


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
            middlewares=[answer_errors, guard.headers, self._auth, self._standby, guard.body],
            client_max_size=self.limits.max_body_bytes,
        )
        r = app.router
        r.add_get("/healthz", self.healthz)
        r.add_get("/readyz", self.readyz)
        r.add_get("/metrics", self.metrics_text)
        JobRoutes(self._running, self.limits).register(r)
        DatasourceRoutes(self._running).register(r)
        ReconcileRoutes(self._running).register(r)
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

    # --- middlewares that read the API's state -------------------------------------------

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
                return json_response(
                    {"error": "a valid bearer token is required"},
                    401,
                    headers={"WWW-Authenticate": 'Bearer realm="druid-orch"'},
                )
        return await handler(request)

    @web.middleware
    async def _standby(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.ha is None:
            return await handler(request)
        return await self.ha.answer(request, handler)

    def _running(self, *, mutating: bool = False) -> Orchestrator:
        if self.orch is None:
            raise UnavailableError("booting: boot reconciliation has not finished")
        if mutating and self.draining:
            raise UnavailableError("shutting down: not accepting work")
        return self.orch

    # --- probes, metrics and the document ----------------------------------------------

    async def healthz(self, _request: web.Request) -> web.Response:
        return json_response(*health(self.orch))

    async def readyz(self, _request: web.Request) -> web.Response:
        return json_response(*readiness(self.orch, draining=self.draining, ha=self.ha))

    async def metrics_text(self, _request: web.Request) -> web.Response:
        if self.metrics is None:
            return error_response(404, "metrics are not enabled")
        from prometheus_client import CONTENT_TYPE_LATEST

        if self.orch is not None:
            await self.metrics.refresh_phases()
        return web.Response(
            body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def openapi(self, _request: web.Request) -> web.Response:
        return json_response(openapi_document())
