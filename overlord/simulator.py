"""An Overlord simulator: a real `aiohttp.web.Application` that answers like a Druid Overlord.

It is what `druid-orch sim` serves, what the demo and the benchmarks run against, and what the
contract tests check our client with. `REFERENCE.md` (§12 lists the checklist) is its source
of truth; where the two disagree, the simulator is wrong.

The HTTP layer here handles routing, bodies, status codes and content types, auth, the
leader/standby role and fault injection; `overlord.sim_cluster` holds tasks, locks, slots and
outcomes. A control surface under `/sim/` (stats, reset, faults, restart) lets tests script it.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from overlord.sim_cluster import EPOCH, ClusterConfig, SimCluster, SimTask, generated_id, iso
from overlord.sim_validation import SubmitRejection, validate_submission

INDEXER = "/druid/indexer/v1"
COORDINATOR = "/druid/coordinator/v1"
JSON = "application/json"
TEXT = "text/plain"
KNOWN_STATES = ("pending", "waiting", "running", "complete")
UNSECURED = ("/status/health", f"{INDEXER}/isLeader", "/sim/")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Faults(msgspec.Struct, kw_only=True):
    """Run-time fault injection (`POST /sim/faults`, or `[faults]` of a scenario file)."""

    error_rate: dict[str, float] = {}  # endpoint name (or "*") -> probability of an error reply
    error_status: int = 500
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    reset_rate: dict[str, float] = {}  # endpoint name (or "*") -> probability of a dropped conn
    outage_s: float = 0.0  # every Overlord endpoint answers 503 for this long from now
    transient_rate: float | None = None
    structural_rate: float | None = None
    stuck_waiting_datasources: list[str] | None = None


class SimConfig(msgspec.Struct, kw_only=True):
    cluster: ClusterConfig = msgspec.field(default_factory=ClusterConfig)
    faults: Faults = msgspec.field(default_factory=Faults)
    users: dict[str, str] = {}  # basic auth: user -> password; empty = security off
    forbidden_users: list[str] = []
    host_name: str = "overlord-sim"
    leader_url: str | None = None  # None: this node is the leader


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status, content_type=JSON)


def _text(body: str, status: int, content_type: str = TEXT) -> web.Response:
    return web.Response(body=body.encode(), status=status, content_type=content_type)


def _empty(status: int) -> web.Response:
    return web.Response(status=status)


def _not_found(task_id: str) -> web.Response:
    return _text(f"Cannot find any task with id: [{task_id}]", 404)


class Simulator:
    """The simulated Overlord (plus the few Coordinator endpoints the orchestrator reads)."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.cluster = SimCluster(self.config.cluster)
        self.faults = self.config.faults
        self.fault_rng = random.Random(f"faults:{self.config.cluster.seed}")
        self.outage_until = 0.0
        self.requests: Counter[str] = Counter()
        self.duplicate_submissions = 0
        self.submissions = 0
        self.started = time.time()
        self.leader_url = self.config.leader_url
        if self.faults.outage_s:
            self.outage_until = time.monotonic() + self.faults.outage_s

    # --- application -------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        r = app.router
        i = INDEXER
        r.add_post(f"{i}/task", self.submit, name="submit")
        r.add_get(f"{i}/task/{{task_id}}/status", self.task_status, name="status")
        r.add_post(f"{i}/taskStatus", self.bulk_status, name="bulk_status")
        r.add_get(f"{i}/tasks", self.list_tasks, name="tasks")
        r.add_get(f"{i}/waitingTasks", self.legacy_waiting, name="waiting_tasks")
        r.add_get(f"{i}/pendingTasks", self.legacy_pending, name="pending_tasks")
        r.add_get(f"{i}/runningTasks", self.legacy_running, name="running_tasks")
        r.add_get(f"{i}/completeTasks", self.legacy_complete, name="complete_tasks")
        r.add_get(f"{i}/task/{{task_id}}", self.task_payload, name="task_spec")
        r.add_get(f"{i}/task/{{task_id}}/reports", self.task_reports, name="reports")
        r.add_get(f"{i}/task/{{task_id}}/log", self.task_log, name="log")
        r.add_post(f"{i}/task/{{task_id}}/shutdown", self.shutdown, name="shutdown")
        r.add_post(
            f"{i}/datasources/{{datasource}}/shutdownAllTasks",
            self.shutdown_all,
            name="shutdown_all",
        )
        r.add_get(f"{i}/workers", self.workers, name="workers")
        r.add_get(f"{i}/totalWorkerCapacity", self.total_capacity, name="total_capacity")
        r.add_post(f"{i}/lockedIntervals/v2", self.locked_intervals, name="locks")
        r.add_post(f"{i}/activeLocks", self.active_locks, name="active_locks")
        r.add_get(f"{i}/leader", self.leader, name="leader")
        r.add_get(f"{i}/isLeader", self.is_leader, name="is_leader")
        r.add_get("/status/health", self.health, name="health")
        r.add_get(f"{COORDINATOR}/datasources/{{datasource}}", self.coverage, name="coverage")
        r.add_get(
            f"{COORDINATOR}/datasources/{{datasource}}/intervals",
            self.coverage_intervals,
            name="coverage_intervals",
        )
        r.add_get("/sim/stats", self.sim_stats, name="sim_stats")
        r.add_post("/sim/reset", self.sim_reset, name="sim_reset")
        r.add_get("/sim/faults", self.sim_get_faults, name="sim_faults_get")
        r.add_post("/sim/faults", self.sim_set_faults, name="sim_faults")
        r.add_post("/sim/restart", self.sim_restart, name="sim_restart")
        r.add_post("/sim/leader", self.sim_leader, name="sim_leader")
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, _app: web.Application) -> None:
        self.cluster.cancel_timers()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name or "unknown"
        self.requests[route] += 1
        path = request.path
        if path.startswith("/sim/"):
            return await handler(request)
        if self.faults.latency_ms or self.faults.latency_jitter_ms:
            delay = self.faults.latency_ms + self.fault_rng.uniform(
                0, self.faults.latency_jitter_ms
            )
            await asyncio.sleep(delay / 1000)
        if self._roll(self.faults.reset_rate, route):
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("simulated connection reset")
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        if (
            self.leader_url is not None
            and path.startswith("/druid/")
            and route
            not in (
                "leader",
                "is_leader",
            )
        ):
            target = self.leader_url.rstrip("/") + path
            if request.query_string:
                target += "?" + request.query_string
            return web.Response(status=307, headers={"Location": target})
        if time.monotonic() < self.outage_until and path.startswith("/druid/"):
            return _empty(503)
        if self._roll(self.faults.error_rate, route):
            status = self.faults.error_status
            if status == 503:
                return _empty(503)
            return _json({"error": f"simulated failure of {route}"}, status)
        return await handler(request)

    def _roll(self, rates: dict[str, float], route: str) -> bool:
        rate = rates.get(route, rates.get("*", 0.0))
        return rate > 0 and self.fault_rng.random() < rate

    def _authenticate(self, request: web.Request) -> web.Response | None:
        if not self.config.users or request.path.startswith(UNSECURED):
            return None
        header = request.headers.get("Authorization")
        if header is None:
            return web.Response(
                body=msgspec.json.encode(
                    {
                        "error": "Unauthorized request",
                        "errorMessage": None,
                        "errorClass": None,
                        "host": self.config.host_name,
                    }
                ),
                status=401,
                content_type=JSON,
                headers={"WWW-Authenticate": "Basic"},
            )
        user = _basic_user(header, self.config.users)
        if user is None:
            # Wrong credentials take Jetty's sendError path: an HTML page, not JSON.
            return _text(_jetty_page(401, "Unauthorized"), 401, "text/html")
        if user in self.config.forbidden_users:
            return _json({"Access-Check-Result": "Unauthorized"}, 403)
        return None

    # --- tasks -------------------------------------------------------------------------

    async def submit(self, request: web.Request) -> web.Response:
        if request.content_type != JSON:
            return _empty(415)
        raw = await request.read()
        try:
            task_id, payload, datasource = validate_submission(
                raw, self.cluster.config.druid_version
            )
        except SubmitRejection as rejection:
            return _json({"error": rejection.message}, 400)
        if task_id is None:
            task_id = generated_id(
                str(payload["type"]), datasource, self.cluster.id_rng, time.time()
            )
        elif task_id in self.cluster.tasks:
            self.duplicate_submissions += 1
            return _json(self._duplicate_body(task_id), 400)
        payload["id"] = task_id
        payload.setdefault("groupId", task_id)
        payload.setdefault("resource", {"availabilityGroup": task_id, "requiredCapacity": 1})
        context = payload.setdefault("context", {}) or {}
        payload["context"] = context
        context.setdefault("forceTimeChunkLock", True)
        context.setdefault("useLineageBasedSegmentAllocation", True)
        self.submissions += 1
        self.cluster.add(task_id, payload, datasource)
        return _json({"task": task_id})

    def _duplicate_body(self, task_id: str) -> dict[str, Any]:
        version = self.cluster.config.druid_version
        if version >= 30:
            return {
                "error": "druidException",
                "errorCode": "entryAlreadyExists",
                "persona": "USER",
                "category": "INVALID_INPUT",
                "errorMessage": f"Task[{task_id}] already exists",
                "context": {},
            }
        if version >= 27:
            return {"error": f"Task [{task_id}] already exists."}
        return {"error": f"Task[{task_id}] already exists!"}

    def _status_plus(self, task: SimTask, *, listing: bool) -> dict[str, Any]:
        if task.active:
            runner = task.runner
            queued = iso(task.queue_inserted) if listing and task.queue_inserted else EPOCH
        else:
            # /tasks says NONE for complete tasks; /task/{id}/status hard-codes WAITING.
            runner = "NONE" if listing else "WAITING"
            queued = EPOCH
        return {
            "id": task.id,
            "groupId": task.group_id,
            "type": task.type,
            "createdTime": iso(task.created),
            "queueInsertionTime": queued,
            "statusCode": task.status,
            "status": task.status,
            "runnerStatusCode": runner,
            "duration": task.duration_ms,
            "location": task.location,
            "dataSource": task.datasource,
            "errorMsg": task.error_msg,
        }

    async def task_status(self, request: web.Request) -> web.Response:
        task = self.cluster.tasks.get(request.match_info["task_id"])
        if task is None:
            return _not_found(request.match_info["task_id"])
        return _json({"task": task.id, "status": self._status_plus(task, listing=False)})

    async def bulk_status(self, request: web.Request) -> web.Response:
        if request.content_type != JSON:
            return _empty(415)
        raw = await request.read()
        try:
            ids = msgspec.json.decode(raw, type=list[str] | None) if raw else None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _json({"error": str(exc).splitlines()[0]}, 400)
        if not ids:
            return _text("No Task IDs provided.", 400, JSON)
        result: dict[str, Any] = {}
        for task_id in dict.fromkeys(ids):
            task = self.cluster.tasks.get(task_id)
            if task is not None:
                result[task_id] = {
                    "id": task.id,
                    "status": task.status,
                    "duration": task.duration_ms,
                    "errorMsg": task.error_msg,
                    "location": task.location,
                }
        return _json(result)

    def _listing(
        self,
        *,
        state: str | None,
        datasource: str | None,
        window_s: float | None,
        max_complete: int | None,
        task_type: str | None,
    ) -> list[dict[str, Any]]:
        now = time.time()
        window = self.cluster.config.recently_finished_s if window_s is None else window_s
        complete: list[SimTask] = []
        active: list[SimTask] = []
        for task in self.cluster.tasks.values():
            if datasource is not None and task.datasource != datasource:
                continue
            if task_type is not None and task.type != task_type:
                continue
            (active if task.active else complete).append(task)
        rows: list[dict[str, Any]] = []
        if state in (None, "complete"):
            recent = [t for t in complete if now - t.created <= window]
            recent.sort(key=lambda t: t.created, reverse=True)
            if max_complete is not None:
                recent = recent[:max_complete]
            rows.extend(self._status_plus(t, listing=True) for t in recent)
        if state != "complete":
            wanted = {"pending": "PENDING", "running": "RUNNING", "waiting": "WAITING"}.get(
                state or ""
            )
            active.sort(key=lambda t: t.created)
            for task in active:
                if wanted is None or task.runner == wanted:
                    rows.append(self._status_plus(task, listing=True))
        return rows

    async def list_tasks(self, request: web.Request) -> web.Response:
        q = request.query
        state = q.get("state")
        if state is not None:
            state = state.lower()
            if state not in KNOWN_STATES:
                return _text(
                    f"Invalid task state[{q['state']}]. Must be one of "
                    "[pending, waiting, running, complete].",
                    400,
                )
        window: float | None = None
        if "createdTimeInterval" in q:
            try:
                lo, hi = q["createdTimeInterval"].split("_", 1)
                window = _instant(hi) - _instant(lo)
            except ValueError:
                return _empty(500)
        max_complete: int | None = None
        if "max" in q:
            try:
                max_complete = int(q["max"])
            except ValueError:
                return _json({"error": f"invalid max [{q['max']}]"}, 400)
        rows = self._listing(
            state=state,
            datasource=q.get("datasource"),
            window_s=window,
            max_complete=max_complete,
            task_type=q.get("type"),
        )
        return _json(rows)

    async def legacy_waiting(self, _request: web.Request) -> web.Response:
        return _json(
            self._listing(
                state="waiting", datasource=None, window_s=None, max_complete=None, task_type=None
            )
        )

    async def legacy_pending(self, _request: web.Request) -> web.Response:
        return _json(
            self._listing(
                state="pending", datasource=None, window_s=None, max_complete=None, task_type=None
            )
        )

    async def legacy_running(self, request: web.Request) -> web.Response:
        return _json(
            self._listing(
                state="running",
                datasource=None,
                window_s=None,
                max_complete=None,
                task_type=request.query.get("type"),
            )
        )

    async def legacy_complete(self, request: web.Request) -> web.Response:
        n = request.query.get("n")
        return _json(
            self._listing(
                state="complete",
                datasource=None,
                window_s=None,
                max_complete=int(n) if n else None,
                task_type=None,
            )
        )

    async def task_payload(self, request: web.Request) -> web.Response:
        task = self.cluster.tasks.get(request.match_info["task_id"])
        if task is None:
            return _not_found(request.match_info["task_id"])
        return _json({"task": task.id, "payload": task.payload})

    async def task_reports(self, request: web.Request) -> web.Response:
        task = self.cluster.tasks.get(request.match_info["task_id"])
        if task is None:
            return _not_found(request.match_info["task_id"])
        report = task.report if not task.active else self.cluster.live_report(task)
        if report is None:
            return _text(
                "No task reports were found for this task. The task may not exist, "
                "or it may not have completed yet.",
                404,
            )
        return _json(report)

    async def task_log(self, request: web.Request) -> web.Response:
        task = self.cluster.tasks.get(request.match_info["task_id"])
        if task is None:
            return _not_found(request.match_info["task_id"])
        if task.started is None and task.active:
            return _text(
                "No log was found for this task. No logs found for this task. Ensure that "
                "the task is running and logging is configured correctly.",
                404,
            )
        data = ("\n".join(task.log) + "\n").encode()
        try:
            offset = int(request.query.get("offset", "0"))
        except ValueError:
            return _json({"error": "offset must be a number"}, 400)
        # a positive offset skips bytes; a negative one keeps the last |offset| bytes
        data = data[offset:]
        return web.Response(body=data, content_type=TEXT, charset="UTF-8")

    async def shutdown(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        if task_id not in self.cluster.tasks:
            return _not_found(task_id)
        self.cluster.shutdown(task_id)
        return _json({"task": task_id})

    async def shutdown_all(self, request: web.Request) -> web.Response:
        datasource = request.match_info["datasource"]
        active = [
            t.id for t in self.cluster.tasks.values() if t.active and t.datasource == datasource
        ]
        if not active:
            return _empty(404)
        for task_id in active:
            self.cluster.shutdown(task_id)
        return _json({"dataSource": datasource})

    # --- cluster -----------------------------------------------------------------------

    async def workers(self, _request: web.Request) -> web.Response:
        c = self.cluster
        rows = []
        for n in range(c.config.workers):
            running = sorted(c.worker_tasks[n])
            by_type = Counter(c.tasks[t].type for t in running)
            row: dict[str, Any] = {
                "worker": {
                    "scheme": "http",
                    "host": f"middlemanager-{n}:{8091 + n}",
                    "ip": f"10.0.0.{n + 10}",
                    "capacity": c.config.capacity_per_worker,
                    "version": "0",
                    "category": c.config.category,
                    "disabled": False,
                },
                "currCapacityUsed": c.workers_used[n],
                "currParallelIndexCapacityUsed": by_type.get("index_parallel", 0),
            }
            if by_type:
                row["currCapacityUsedByTaskType"] = dict(by_type)
            row["availabilityGroups"] = running
            row["runningTasks"] = running
            last = c.last_completed[n]
            row["lastCompletedTaskTime"] = iso(last if last is not None else self.started)
            rows.append(row)
        return _json(rows)

    async def total_capacity(self, _request: web.Request) -> web.Response:
        c = self.cluster
        return _json(
            {
                "currentClusterCapacity": c.config.workers * c.config.capacity_per_worker,
                "maximumCapacityWithAutoScale": -1,
                "usedClusterCapacity": sum(c.workers_used),
            }
        )

    async def _lock_filters(self, request: web.Request) -> list[dict[str, Any]] | web.Response:
        raw = await request.read()
        try:
            filters = msgspec.json.decode(raw, type=list[dict[str, Any]] | None) if raw else None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _json({"error": str(exc).splitlines()[0]}, 400)
        if not filters:
            return _text("No filter provided", 400, JSON)
        return filters

    async def locked_intervals(self, request: web.Request) -> web.Response:
        filters = await self._lock_filters(request)
        if isinstance(filters, web.Response):
            return filters
        result: dict[str, list[str]] = {}
        for f in filters:
            ds = str(f.get("datasource"))
            priority = int(f.get("priority") or 0)
            held = [
                iv[2]
                for tid in self.cluster.lock_holders.get(ds, ())
                if self.cluster.tasks[tid].priority >= priority
                for iv in self.cluster.tasks[tid].intervals
            ]
            if held:
                result.setdefault(ds, []).extend(held)
        return _json(result)

    async def active_locks(self, request: web.Request) -> web.Response:
        filters = await self._lock_filters(request)
        if isinstance(filters, web.Response):
            return filters
        out: dict[str, list[dict[str, Any]]] = {}
        for f in filters:
            ds = str(f.get("datasource"))
            for tid in sorted(self.cluster.lock_holders.get(ds, ())):
                task = self.cluster.tasks[tid]
                for iv in task.intervals:
                    out.setdefault(ds, []).append(
                        {
                            "granularity": "timeChunk",
                            "type": "EXCLUSIVE",
                            "groupId": task.group_id,
                            "dataSource": ds,
                            "interval": iv[2],
                            "version": iso(task.queue_inserted or task.created),
                            "priority": task.priority,
                            "revoked": False,
                        }
                    )
        return _json({"datasourceToLocks": out})

    async def leader(self, request: web.Request) -> web.Response:
        url = self.leader_url or f"{request.scheme}://{request.host}"
        return _text(url, 200, JSON)

    async def is_leader(self, _request: web.Request) -> web.Response:
        if self.leader_url is not None:
            return _json({"leader": False}, 404)
        return _json({"leader": True})

    async def health(self, _request: web.Request) -> web.Response:
        return _json(True)

    # --- coordinator -------------------------------------------------------------------

    def _served(self, datasource: str) -> list[tuple[float, float, str]]:
        intervals = {
            iv
            for t in self.cluster.tasks.values()
            if t.datasource == datasource and t.status == "SUCCESS"
            for iv in t.intervals
        }
        return sorted(intervals, key=lambda iv: (iv[0], iv[1]), reverse=True)

    async def coverage(self, request: web.Request) -> web.Response:
        served = self._served(request.match_info["datasource"])
        if not served:
            return _empty(204)
        size = 100_000 * len(served)
        return _json(
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
                    "minTime": iso(min(iv[0] for iv in served)),
                    "maxTime": iso(max(iv[1] for iv in served)),
                },
            }
        )

    async def coverage_intervals(self, request: web.Request) -> web.Response:
        served = self._served(request.match_info["datasource"])
        if not served:
            return _empty(204)
        return _json([iv[2] for iv in served])

    # --- control surface ---------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        statuses = Counter(t.status for t in self.cluster.tasks.values())
        runners = Counter(t.runner for t in self.cluster.tasks.values() if t.active)
        overlord_requests = {k: v for k, v in self.requests.items() if not k.startswith("sim_")}
        return {
            "requests": dict(sorted(overlord_requests.items())),
            "requests_total": sum(overlord_requests.values()),
            "tasks": dict(statuses),
            "runner": dict(runners),
            "submissions": self.submissions,
            "duplicate_submissions": self.duplicate_submissions,
            "max_live_tasks_per_interval": self.cluster.max_live_per_interval,
            "max_successes_per_interval": self.cluster.max_successes_per_interval,
            "live_tasks": sum(1 for t in self.cluster.tasks.values() if t.active),
            "slots": {
                "capacity": self.cluster.config.workers * self.cluster.config.capacity_per_worker,
                "used": sum(self.cluster.workers_used),
            },
        }

    async def sim_stats(self, _request: web.Request) -> web.Response:
        return _json(self.stats())

    async def sim_reset(self, _request: web.Request) -> web.Response:
        self.cluster.cancel_timers()
        self.cluster = SimCluster(self.config.cluster)
        self.requests.clear()
        self.duplicate_submissions = 0
        self.submissions = 0
        self.outage_until = 0.0
        return _json({"reset": True})

    async def sim_get_faults(self, _request: web.Request) -> web.Response:
        return _json(self.faults)

    async def sim_set_faults(self, request: web.Request) -> web.Response:
        try:
            faults = msgspec.json.decode(await request.read(), type=Faults)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return _json({"error": f"bad faults: {exc}"}, 400)
        self.set_faults(faults)
        return _json(self.faults)

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.outage_until = time.monotonic() + faults.outage_s if faults.outage_s else 0.0
        cluster = self.cluster.config
        if faults.transient_rate is not None:
            cluster.transient_rate = faults.transient_rate
        if faults.structural_rate is not None:
            cluster.structural_rate = faults.structural_rate
        if faults.stuck_waiting_datasources is not None:
            cluster.stuck_waiting_datasources = faults.stuck_waiting_datasources
            self.cluster.schedule_soon()

    async def sim_restart(self, _request: web.Request) -> web.Response:
        """An Overlord restart that forgets the tasks it was running."""
        return _json({"forgotten": self.cluster.forget_active()})

    async def sim_leader(self, request: web.Request) -> web.Response:
        """`{"leader_url": "http://other:8090"}` makes this node a standby; null, the leader."""
        body = msgspec.json.decode(await request.read(), type=dict[str, str | None])
        self.leader_url = body.get("leader_url")
        return _json({"leader_url": self.leader_url})


def _instant(text: str) -> float:
    from overlord.sim_cluster import parse_instant

    return parse_instant(text)


def _basic_user(header: str, users: dict[str, str]) -> str | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user if users.get(user) == password else None


def _jetty_page(status: int, reason: str) -> str:
    return (
        '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
        f"<title>Error {status} {reason}</title>\n</head>\n<body><h2>HTTP ERROR {status} "
        f"{reason}</h2>\n</body>\n</html>\n"
    )


async def serve(sim: Simulator, host: str, port: int) -> web.AppRunner:
    """Start `sim` on host:port; returns the runner (call `cleanup()` to stop)."""
    runner = web.AppRunner(sim.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
