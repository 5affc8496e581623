"""The simulated Overlord's cluster endpoints (workers, capacity, locks, leader, health) and
the Coordinator's coverage endpoints (REFERENCE §6, §7, §8, §10)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from overlord.sim.http_tasks import JSON, Handler, json_reply, text_reply
from overlord.sim.locks import Span
from overlord.sim.tasks import iso, parse_interval

if TYPE_CHECKING:
    from overlord.sim.server import Simulator

SEGMENT_BYTES = 100_000  # pretend size of one served segment


class ClusterRoutes:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def handlers(self) -> dict[str, Handler]:
        return {
            "workers": self.workers,
            "total_capacity": self.total_capacity,
            "worker_config": self.worker_config,
            "locked_intervals": self.locked_intervals,
            "active_locks": self.active_locks,
            "leader": self.leader,
            "is_leader": self.is_leader,
            "health": self.health,
            "self_discovered": self.self_discovered,
            "coverage": self.coverage,
            "coverage_intervals": self.coverage_intervals,
        }

    # --- workers -----------------------------------------------------------------------

    async def workers(self, _request: web.Request) -> web.Response:
        c = self.sim.cluster
        rows = []
        for n in range(len(c.workers_used)):
            running = sorted(c.worker_tasks[n])
            by_type = Counter(c.tasks[t].type for t in running if t in c.tasks)
            row: dict[str, Any] = {
                "worker": {
                    "scheme": "http",
                    "host": f"middlemanager-{n}:8091",
                    "ip": f"10.0.{n // 250}.{n % 250 + 2}",
                    "capacity": c.config.capacity_per_worker,
                    "version": "0",
                    "category": c.config.category,
                    "disabled": False,
                },
                "currCapacityUsed": c.workers_used[n],
                "currParallelIndexCapacityUsed": by_type.get("index_parallel", 0),
            }
            if by_type:  # NON_EMPTY: omitted when nothing runs
                row["currCapacityUsedByTaskType"] = dict(by_type)
            row["availabilityGroups"] = running
            row["runningTasks"] = running
            last = c.last_completed[n]
            row["lastCompletedTaskTime"] = iso(last if last is not None else self.sim.started)
            rows.append(row)
        return json_reply(rows)

    async def total_capacity(self, _request: web.Request) -> web.Response:
        c = self.sim.cluster
        return json_reply(
            {
                "currentClusterCapacity": c.capacity,
                "maximumCapacityWithAutoScale": -1,
                "usedClusterCapacity": c.used,
            }
        )

    async def worker_config(self, _request: web.Request) -> web.Response:
        return json_reply(
            {
                "type": "default",
                "selectStrategy": {
                    "type": "fillCapacityWithCategorySpec",
                    "workerCategorySpec": {"categoryMap": {}, "strong": True},
                },
                "autoScaler": None,
            }
        )

    # --- locks -------------------------------------------------------------------------

    async def _filters(self, request: web.Request) -> list[dict[str, Any]] | web.Response:
        raw = await request.read()
        try:
            filters = msgspec.json.decode(raw, type=list[dict[str, Any]] | None) if raw else None
            for f in filters or ():
                f["_spans"] = [parse_interval(str(i)) for i in f.get("intervals") or ()]
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            return json_reply({"error": str(exc).splitlines()[0]}, 400)
        if not filters:
            return text_reply("No filter provided", 400, JSON)
        return filters

    def _held(self, f: dict[str, Any]) -> list[tuple[str, str, Span]]:
        """Locks on the filter's datasource (overlapping its intervals, when it gives any)."""
        wanted: list[Span] = f["_spans"]
        return [
            (owner, group, span)
            for owner, group, span in self.sim.cluster.locks.held(str(f.get("datasource")))
            if not wanted or any(span[0] < w[1] and w[0] < span[1] for w in wanted)
        ]

    async def locked_intervals(self, request: web.Request) -> web.Response:
        filters = await self._filters(request)
        if isinstance(filters, web.Response):
            return filters
        tasks = self.sim.cluster.tasks
        result: dict[str, list[str]] = {}
        for f in filters:
            priority = int(f.get("priority") or 0)
            # Only locks a task of this priority could not revoke count as "locked".
            held = [
                s[2] for o, _, s in self._held(f) if o in tasks and tasks[o].priority >= priority
            ]
            if held:
                result.setdefault(str(f.get("datasource")), []).extend(dict.fromkeys(held))
        return json_reply(result)

    async def active_locks(self, request: web.Request) -> web.Response:
        filters = await self._filters(request)
        if isinstance(filters, web.Response):
            return filters
        tasks = self.sim.cluster.tasks
        out: dict[str, list[dict[str, Any]]] = {}
        for f in filters:
            for owner, group, span in self._held(f):
                task = tasks.get(owner)
                if task is None:
                    continue
                out.setdefault(task.datasource, []).append(
                    {
                        "granularity": "timeChunk",
                        "type": "EXCLUSIVE",
                        "groupId": group,
                        "dataSource": task.datasource,
                        "interval": span[2],
                        "version": iso(task.queue_inserted or task.created),
                        "priority": task.priority,
                        "revoked": False,
                    }
                )
        return json_reply({"datasourceToLocks": out})

    # --- leader and health -------------------------------------------------------------

    async def leader(self, request: web.Request) -> web.Response:
        if self.sim.fault_state.leaderless():
            return web.Response(status=204)  # Response.ok(null): no leader known
        url = self.sim.leader_url or f"{request.scheme}://{request.host}"
        return text_reply(url, 200, JSON)  # the bare URL, despite the JSON content type

    async def is_leader(self, _request: web.Request) -> web.Response:
        if self.sim.leader_url is not None or self.sim.fault_state.leaderless():
            return json_reply({"leader": False}, 404)
        return json_reply({"leader": True})

    async def health(self, _request: web.Request) -> web.Response:
        return json_reply(True)

    async def self_discovered(self, _request: web.Request) -> web.Response:
        return json_reply({"selfDiscovered": True})

    # --- coordinator -------------------------------------------------------------------

    def _served(self, datasource: str) -> list[Span]:
        spans = self.sim.cluster.served.get(datasource, {}).values()
        return sorted(spans, key=lambda s: (s[0], s[1]), reverse=True)  # newest first

    async def coverage(self, request: web.Request) -> web.Response:
        served = self._served(request.match_info["datasource"])
        if not served:
            return web.Response(status=204)
        size = SEGMENT_BYTES * len(served)
        return json_reply(
            {
                "tiers": {
                    "_default_tier": {
                        "segmentCount": len(served),
                        "size": size,
                        "replicatedSize": size,
                    }
                },
                "segments": {
                    "count": len(served),
                    "size": size,
                    "replicatedSize": size,
                    "minTime": iso(min(s[0] for s in served)),
                    "maxTime": iso(max(s[1] for s in served)),
                },
            }
        )

    async def coverage_intervals(self, request: web.Request) -> web.Response:
        served = self._served(request.match_info["datasource"])
        if not served:
            return web.Response(status=204)
        if "simple" in request.query:
            return json_reply({s[2]: {"size": SEGMENT_BYTES, "count": 1} for s in served})
        return json_reply([s[2] for s in served])
