"""An HA replica's face on the control API: a standby answers the job reads itself, from
the read model in the shared database, and sends the rest of `/v1` to the leader.

The summaries are written in the leader's append transactions, so a standby's answers are
as current as the leader's (without a live job's in-memory hold reason, which only the
leader has). The change feed's long poll wakes on the leader's NOTIFY. Everything else under
`/v1` goes to the leader with a 307 (method and body kept), or a 503 when none is known.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from actors.job.summary import view_of
from actors.stream_names import job_stream
from eventlog.contract import EventLog
from service.http.job_json import job_json, jobs_json
from service.job_queries import changes_params, coverage_range, list_query

_Read = Callable[[web.Request, re.Match[str]], Awaitable[web.Response]]
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: object) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), content_type="application/json")


class StandbyReads:
    """The `/v1` GETs a standby serves from `log` (opened unfenced; it never appends)."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self._routes: list[tuple[re.Pattern[str], _Read]] = [
            (re.compile(r"/v1/jobs"), self._list),
            (re.compile(r"/v1/jobs/(?P<job_id>[^/]+)"), self._one),
            (re.compile(r"/v1/changes"), self._changes),
            (re.compile(r"/v1/datasources/(?P<ds>[^/]+)/coverage"), self._coverage),
        ]

    async def answer(self, request: web.Request) -> web.Response | None:
        """The answer to a read this standby serves, or None (send it to the leader)."""
        if request.method != "GET":
            return None
        for pattern, read in self._routes:
            found = pattern.fullmatch(request.path)
            if found is not None:
                return await read(request, found)
        return None

    async def _list(self, request: web.Request, _: re.Match[str]) -> web.Response:
        query = list_query(request.query, request.query.getall("id", []))
        if query is None:
            return _json({"jobs": [], "next": None})
        page = await self.log.job_summaries(query)
        return _json({"jobs": jobs_json(view_of(s) for s in page.jobs), "next": page.next})

    async def _one(self, request: web.Request, found: re.Match[str]) -> web.Response:
        from service.http.job_json import recorded_dict

        job_id = found["job_id"]
        summary = await self.log.job_summary(job_id)
        if summary is None:
            raise web.HTTPNotFound(
                body=msgspec.json.encode({"error": f"unknown job {job_id!r}"}),
                content_type="application/json",
            )
        history = await self.log.read_stream(job_stream(job_id))
        events = [recorded_dict(r) for r in history]
        return _json({"job": job_json(view_of(summary)), "events": events})

    async def _changes(self, request: web.Request, _: re.Match[str]) -> web.Response:
        after, limit, wait = changes_params(request.query)
        head = await self.log.last_seq()
        found = await self.log.summary_changes(after, limit=limit, wait_s=wait)
        jobs = jobs_json(view_of(s) for s in found.jobs)
        return _json({"jobs": jobs, "position": found.position, "head": head})

    async def _coverage(self, request: web.Request, found: re.Match[str]) -> web.Response:
        start, end = coverage_range(request.query)
        summaries = await self.log.coverage(found["ds"], start, end)
        jobs = jobs_json(view_of(s) for s in summaries)
        return _json({"datasource": found["ds"], "from": start, "to": end, "jobs": jobs})


class Replication:
    """What the control API of an HA replica needs: its role, the leader, the reads."""

    def __init__(self) -> None:
        self.role = "standby"
        self.leader_url: str | None = None
        self.reads: StandbyReads | None = None

    def readiness(self) -> dict[str, object]:
        return {"ready": True, "role": self.role, "leader": self.leader_url}

    async def answer(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        """The leader's handler; a standby's own answer to a job read; else the leader."""
        if self.role != "standby" or not request.path.startswith("/v1/"):
            return await handler(request)
        if self.reads is not None:
            answer = await self.reads.answer(request)
            if answer is not None:
                return answer
        if self.leader_url is None:
            body = {"error": "this replica is a standby and no leader is known yet; retry"}
            return web.Response(
                status=503, body=msgspec.json.encode(body), content_type="application/json"
            )
        leader = self.leader_url
        body = {"error": f"this replica is a standby; the leader is {leader}", "leader": leader}
        return web.Response(
            status=307,
            headers={"Location": leader.rstrip("/") + request.path_qs},
            body=msgspec.json.encode(body),
            content_type="application/json",
        )
