"""The control API's reconciliation routes.

POST /v1/reconcile                reconcile with the Overlord now
GET  /v1/reconcile/last           the report of the last reconciliation
"""

from __future__ import annotations

from aiohttp import web

from service.http.responses import Running, error_response, json_response

__all__ = ["ReconcileRoutes"]


class ReconcileRoutes:
    def __init__(self, running: Running) -> None:
        """`running(mutating=...)` is the API's: the open orchestrator, or a 503."""
        self._running = running

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/reconcile", self.reconcile)
        router.add_get("/v1/reconcile/last", self.last_reconcile)

    async def reconcile(self, _request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        report = await orch.reconcile()
        return json_response(report)

    async def last_reconcile(self, _request: web.Request) -> web.Response:
        orch = self._running()
        if orch.last_reconcile is None:
            return error_response(404, "no reconciliation has run yet")
        return json_response(orch.last_reconcile)
