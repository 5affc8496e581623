"""The simulated Overlord's task endpoints (REFERENCE §3, §4): bodies, status codes and
content types as Druid sends them, including the plain-text and empty-bodied answers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from overlord.redaction import redact_passwords
from overlord.sim.periods import parse_bounds
from overlord.sim.tasks import SimTask, bulk_entry, generated_id, status_plus
from overlord.sim.validation import SubmitRejection, validate_submission

if TYPE_CHECKING:
    from overlord.sim.server import Simulator

JSON = "application/json"
TEXT = "text/plain"
KNOWN_STATES = ("pending", "waiting", "running", "complete")
NO_REPORT = (
    "No task reports were found for this task. The task may not exist, or it may not have "
    "completed yet."
)
NO_LOG = (
    "No log was found for this task. No logs found for this task. Ensure that the task is "
    "running and logging is configured correctly."
)
SEGMENTS_GONE = (
    "Segment IDs committed by a task action are not persisted anymore. Use the metric "
    "'segment/added/bytes' to identify the segments created by a task."
)
_ENCODER = msgspec.json.Encoder()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_reply(body: Any, status: int = 200) -> web.Response:
    """Compact JSON with nulls written out, as Druid's object mapper does."""
    return web.Response(body=_ENCODER.encode(body), status=status, content_type=JSON)


def text_reply(body: str, status: int, content_type: str = TEXT) -> web.Response:
    """A bare string; Druid sends some with an application/json content type regardless."""
    return web.Response(body=body.encode(), status=status, content_type=content_type)


def task_not_found(task_id: str) -> web.Response:
    return text_reply(f"Cannot find any task with id: [{task_id}]", 404)


class TaskRoutes:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def handlers(self) -> dict[str, Handler]:
        return {
            "submit": self.submit,
            "status": self.status,
            "bulk_status": self.bulk_status,
            "tasks": self.list_tasks,
            "waiting_tasks": self.legacy("waiting"),
            "pending_tasks": self.legacy("pending"),
            "running_tasks": self.legacy("running"),
            "complete_tasks": self.legacy("complete"),
            "task_spec": self.task_spec,
            "reports": self.reports,
            "log": self.log,
            "task_segments": self.segments,
            "shutdown": self.shutdown,
            "shutdown_all": self.shutdown_all,
        }

    def _task(self, request: web.Request) -> SimTask | None:
        return self.sim.cluster.tasks.get(request.match_info["task_id"])

    # --- submit ------------------------------------------------------------------------

    async def submit(self, request: web.Request) -> web.Response:
        if request.content_type != JSON:
            return web.Response(status=415)
        cluster = self.sim.cluster
        raw = await request.read()
        try:
            task_id, payload, datasource = validate_submission(raw, cluster.config.druid_version)
        except SubmitRejection as rejection:
            return json_reply({"error": rejection.message}, 400)
        if task_id is None:
            task_id = generated_id(str(payload["type"]), datasource, cluster.id_rng, time.time())
        elif task_id in cluster.tasks:
            self.sim.duplicate_submissions += 1
            return json_reply(self._duplicate_body(task_id), 400)
        # TaskQueue.add checks the queue's size last, after the spec decoded and the id was
        # found new (REFERENCE §3.2): a retried submit that landed is told "already exists".
        limit = cluster.config.queue_max_size
        if limit is not None and cluster.queue_size() >= limit:
            message = (
                f"Task queue already contains [{cluster.queue_size()}] tasks. Retry later "
                f"or increase 'druid.indexer.queue.maxSize'[{limit}]."
            )
            body = _druid_error("general", "ADMIN", "CAPACITY_EXCEEDED", message)
            return json_reply(body, 429)
        payload["id"] = task_id
        payload.setdefault("groupId", task_id)
        payload.setdefault("resource", {"availabilityGroup": task_id, "requiredCapacity": 1})
        context = payload.get("context") or {}
        payload["context"] = context
        context.setdefault("forceTimeChunkLock", True)
        context.setdefault("useLineageBasedSegmentAllocation", True)
        payload.setdefault("dataSource", datasource)
        self.sim.submissions += 1
        cluster.add(task_id, payload, datasource)
        return json_reply({"task": task_id})

    def _duplicate_body(self, task_id: str) -> dict[str, Any]:
        version = self.sim.cluster.config.druid_version
        if version >= 30:
            return _druid_error(
                "entryAlreadyExists", "USER", "INVALID_INPUT", f"Task[{task_id}] already exists"
            )
        if version >= 27:
            return {"error": f"Task [{task_id}] already exists."}
        return {"error": f"Task[{task_id}] already exists!"}

    # --- status ------------------------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        task = self._task(request)
        if task is None:
            return task_not_found(request.match_info["task_id"])
        return json_reply({"task": task.id, "status": status_plus(task, listing=False)})

    async def bulk_status(self, request: web.Request) -> web.Response:
        if request.content_type != JSON:
            return web.Response(status=415)
        raw = await request.read()
        try:
            ids = msgspec.json.decode(raw, type=list[str] | None) if raw.strip() else None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return json_reply({"error": str(exc).splitlines()[0]}, 400)
        if not ids:
            return text_reply("No Task IDs provided.", 400, JSON)
        tasks = self.sim.cluster.tasks
        found = (tasks.get(i) for i in dict.fromkeys(ids))
        return json_reply({t.id: bulk_entry(t) for t in found if t is not None})

    async def list_tasks(self, request: web.Request) -> web.Response:
        q = request.query
        state = q.get("state")
        if state is not None:
            state = state.lower()
            if state not in KNOWN_STATES:
                return text_reply(
                    f"Invalid task state[{q['state']}]. Must be one of "
                    "[pending, waiting, running, complete].",
                    400,
                )
        window: float | None = None
        if "createdTimeInterval" in q:
            try:  # only the length counts: "created within this long before now"
                start, _, end = q["createdTimeInterval"].partition("_")
                lo, hi = parse_bounds(start, end)
                window = (hi - lo).total_seconds()
            except ValueError:
                return web.Response(status=500)
        try:
            max_complete = int(q["max"]) if "max" in q else None
        except ValueError:
            return web.Response(status=404)  # JAX-RS answers 404 to an unconvertible param
        rows = self._listing(state, q.get("datasource"), window, max_complete, q.get("type"))
        return json_reply(list(rows))

    def legacy(self, state: str) -> Handler:
        """`/waitingTasks`, `/pendingTasks`, `/runningTasks?type=`, `/completeTasks?n=`."""

        async def handler(request: web.Request) -> web.Response:
            task_type = request.query.get("type") if state == "running" else None
            n = request.query.get("n") if state == "complete" else None
            limit = int(n) if n and n.isdigit() else None
            return json_reply(list(self._listing(state, None, None, limit, task_type)))

        return handler

    def _listing(
        self,
        state: str | None,
        datasource: str | None,
        window_s: float | None,
        max_complete: int | None,
        task_type: str | None,
    ) -> Iterator[dict[str, Any]]:
        """Completed tasks newest first (within the window, at most `max`), then active ones
        in creation order, each filtered by datasource and type (REFERENCE §4.4)."""
        cluster = self.sim.cluster
        if state in (None, "complete") and max_complete != 0:
            oldest = time.time() - (
                cluster.config.recently_finished_s if window_s is None else window_s
            )
            emitted = 0
            for task in reversed(cluster.completed):
                if task.created < oldest or (max_complete is not None and emitted >= max_complete):
                    break
                if _matches(task, datasource, task_type):
                    emitted += 1
                    yield status_plus(task, listing=True)
        if state == "complete":
            return
        wanted = {"pending": "PENDING", "running": "RUNNING", "waiting": "WAITING"}.get(state or "")
        for task in cluster.active.values():
            if (wanted is None or task.runner == wanted) and _matches(task, datasource, task_type):
                yield status_plus(task, listing=True)

    # --- one task ----------------------------------------------------------------------

    async def task_spec(self, request: web.Request) -> web.Response:
        task = self._task(request)
        if task is None:
            return task_not_found(request.match_info["task_id"])
        return json_reply({"task": task.id, "payload": redact_passwords(task.payload)})

    async def reports(self, request: web.Request) -> web.Response:
        task = self._task(request)
        if task is None:
            return task_not_found(request.match_info["task_id"])
        report = self.sim.cluster.outcomes.live_report(task) if task.active else task.report
        if report is None:
            return text_reply(NO_REPORT, 404)
        return json_reply(report)

    async def log(self, request: web.Request) -> web.Response:
        task = self._task(request)
        if task is None:
            return task_not_found(request.match_info["task_id"])
        if task.started is None:  # never reached a worker: no peon, no log
            return text_reply(NO_LOG, 404)
        try:
            offset = int(request.query.get("offset", "0"))
        except ValueError:
            return web.Response(status=404)  # JAX-RS answers 404 to an unconvertible param
        data = ("\n".join(task.log) + "\n").encode()
        # A positive offset skips bytes; a negative one keeps the last |offset| bytes.
        return web.Response(body=data[offset:], content_type=TEXT, charset="UTF-8")

    async def segments(self, request: web.Request) -> web.Response:
        if self._task(request) is None:
            return task_not_found(request.match_info["task_id"])
        return json_reply({"error": SEGMENTS_GONE}, 404)

    async def shutdown(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        if task_id not in self.sim.cluster.tasks:
            return task_not_found(task_id)
        self.sim.cluster.shutdown(task_id)  # a finished task stays as it is: 200 all the same
        return json_reply({"task": task_id})

    async def shutdown_all(self, request: web.Request) -> web.Response:
        datasource = request.match_info["datasource"]
        cluster = self.sim.cluster
        active = [t.id for t in cluster.active.values() if t.datasource == datasource]
        if not active:
            return web.Response(status=404)
        for task_id in active:
            cluster.shutdown(task_id)
        return json_reply({"dataSource": datasource})


def _matches(task: SimTask, datasource: str | None, task_type: str | None) -> bool:
    return (datasource is None or task.datasource == datasource) and (
        task_type is None or task.type == task_type
    )


def _druid_error(code: str, persona: str, category: str, message: str) -> dict[str, Any]:
    """The DruidException body (REFERENCE §2.1), keys in Druid's order."""
    return {
        "error": "druidException",
        "errorCode": code,
        "persona": persona,
        "category": category,
        "errorMessage": message,
        "context": {},
    }
