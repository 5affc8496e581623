"""The control API's job routes.

POST /v1/jobs                     submit {"spec": {...}} or {"template": {...}, "intervals": []}
GET  /v1/jobs                     a page of jobs; ?phase=a,b &datasource= &terminal=
                                  &interval= &changed_since= &id= &limit= &cursor=
GET  /v1/jobs/{job_id}            one job (any ever recorded) and its event history
POST /v1/jobs/{job_id}/cancel     cancel a job (harmless twice)
POST /v1/jobs/{job_id}/retry      run a dead or cancelled job again {"reason": "..."}
GET  /v1/changes                  jobs changed after ?after=POSITION (long poll: &wait=S)
"""

from __future__ import annotations

import asyncio

import msgspec
import structlog
from aiohttp import web

from actors.job.view import JobView
from actors.orchestrator import Orchestrator
from service.http.job_json import job_json, jobs_json, recorded_dict
from service.http.responses import Running, error_response, json_response
from service.intake import SubmitRequest, jobs_from_request
from service.job_queries import changes_params, list_query, overlap_warning, succeeded_overlapping
from service.limits import LimitsSection
from specs.compiler import CompiledJob

__all__ = ["SUBMIT_CONCURRENCY", "JobRoutes", "RetryRequest"]

logger = structlog.get_logger("druid_orch.api")

# Acceptances in flight at once for one request: one at a time, a backfill of 10,000 days
# waited for 10,000 commits in a row; together they share group commits.
SUBMIT_CONCURRENCY = 64


class RetryRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: str = ""


class JobRoutes:
    def __init__(self, running: Running, limits: LimitsSection) -> None:
        """`running(mutating=...)` is the API's: the open orchestrator, or a 503."""
        self._running = running
        self.limits = limits

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/jobs", self.submit)
        router.add_get("/v1/jobs", self.list_jobs)
        router.add_get("/v1/jobs/{job_id}", self.job)
        router.add_post("/v1/jobs/{job_id}/cancel", self.cancel)
        router.add_post("/v1/jobs/{job_id}/retry", self.retry)
        router.add_get("/v1/changes", self.changes)

    async def submit(self, request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        try:
            body = msgspec.json.decode(await request.read(), type=SubmitRequest)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return error_response(400, f"bad request body: {exc}")
        prefix = orch.config.task_id_prefix
        if body.task_id_prefix != prefix:
            body = msgspec.structs.replace(body, task_id_prefix=prefix)
        jobs = jobs_from_request(body, limits=self.limits)
        warning = overlap_warning(jobs, await succeeded_overlapping(orch.queries, jobs))
        views = await _submit_all(orch, jobs)
        logger.info("api_submitted", jobs=len(views), warning=warning)
        # The jobs are submitted (a client asked for them); the warning says what they redo.
        body_out = {"jobs": jobs_json(views), **({"warning": warning} if warning else {})}
        return json_response(body_out, 202)

    async def list_jobs(self, request: web.Request) -> web.Response:
        orch = self._running()
        query = list_query(request.query, request.query.getall("id", []))
        if query is None:
            return json_response({"jobs": [], "next": None})
        page = await orch.queries.page(query)
        return json_response({"jobs": jobs_json(page.jobs), "next": page.next})

    async def changes(self, request: web.Request) -> web.Response:
        orch = self._running()
        after, limit, wait = changes_params(request.query)
        head = await orch.log.last_seq()
        found = await orch.queries.changes(after, limit=limit, wait_s=wait)
        return json_response(
            {"jobs": jobs_json(found.jobs), "position": found.position, "head": head}
        )

    async def job(self, request: web.Request) -> web.Response:
        orch = self._running()
        job_id = request.match_info["job_id"]
        view = await orch.get(job_id)  # raises UnknownJobError: a 404
        assert view is not None
        history = await orch.history(job_id)
        return json_response({"job": job_json(view), "events": [recorded_dict(r) for r in history]})

    async def cancel(self, request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        view = await orch.cancel(request.match_info["job_id"], reason="api")
        return json_response({"job": job_json(view)})

    async def retry(self, request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        reason = ""
        if request.body_exists:
            try:
                body = msgspec.json.decode(await request.read(), type=RetryRequest)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                return error_response(400, f"bad retry request: {exc}")
            reason = body.reason
        view = await orch.retry(request.match_info["job_id"], reason=reason, by="api")
        return json_response({"job": job_json(view)})


async def _submit_all(orch: Orchestrator, jobs: list[CompiledJob]) -> list[JobView]:
    """Accept every job of one request, in its order, a bounded number at a time."""
    limit = asyncio.Semaphore(SUBMIT_CONCURRENCY)

    async def one(job: CompiledJob) -> JobView:
        async with limit:
            return await orch.submit(job)

    return list(await asyncio.gather(*(one(job) for job in jobs)))
