"""The control API's datasource routes.

GET  /v1/datasources              breaker state and paused datasources
GET  /v1/datasources/{ds}/coverage   ?from=&to=: the jobs covering each interval
                                  (&view=cells: [interval, phase, job_id, accepted_at])
POST /v1/datasources/{ds}/resume  resume a datasource paused by structural failures
"""

from __future__ import annotations

from aiohttp import web

from service.http.job_json import jobs_json
from service.http.responses import Running, json_response
from service.job_queries import coverage_cells, coverage_range, overlord_block

__all__ = ["DatasourceRoutes"]


class DatasourceRoutes:
    def __init__(self, running: Running) -> None:
        """`running(mutating=...)` is the API's: the open orchestrator, or a 503."""
        self._running = running

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v1/datasources", self.datasources)
        router.add_get("/v1/datasources/{datasource}/coverage", self.coverage)
        router.add_post("/v1/datasources/{datasource}/resume", self.resume)

    async def datasources(self, _request: web.Request) -> web.Response:
        orch = self._running()
        return json_response(
            {
                "overlord_breaker": orch.breakers.overlord_phase,
                "overlord": overlord_block(orch.breakers.overlord_health()),
                "paused": orch.breakers.paused,
            }
        )

    async def coverage(self, request: web.Request) -> web.Response:
        orch = self._running()
        datasource = request.match_info["datasource"]
        start, end = coverage_range(request.query)
        cells = coverage_cells(request.query)
        if cells:  # the console's calendar: a quarter of the bytes for 10,000 chunks
            rows = await orch.queries.coverage_cells(datasource, start, end)
            return json_response(
                {"datasource": datasource, "from": start, "to": end, "cells": rows}
            )
        views = await orch.queries.coverage(datasource, start, end)
        return json_response(
            {"datasource": datasource, "from": start, "to": end, "jobs": jobs_json(views)}
        )

    async def resume(self, request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        datasource = request.match_info["datasource"]
        resumed = orch.resume_datasource(datasource, by="api")
        return json_response({"datasource": datasource, "resumed": resumed})
