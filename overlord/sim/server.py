"""An Overlord simulator: a real `aiohttp.web.Application` that answers like a Druid Overlord.

It is what `druid-orch sim` serves, what the demo and the benchmarks run against, and what the
contract tests check our client with. `REFERENCE.md` (§12 lists the checklist) is its source
of truth; where the two disagree, the simulator is wrong.

Layout: this module holds the node (its role as leader or standby, its request counts and
faults), wires the routes of `overlord.endpoints` to their handlers, and serves the control
surface under `/sim/`. The handlers live in `sim_http_tasks`, `sim_http_cluster` and
`sim_supervisors`; auth and the leader/standby filter in `sim_access`; faults in `sim_faults`;
the cluster itself (tasks, locks, slots) in `sim_cluster`.

Two nodes can share one cluster, as two Overlords share one metadata store: pass `peer=`
(or assign `.cluster`), and make one of them a standby with `leader_url`.

Known simplifications (where the simulator is knowingly less than Druid):
* Locks are exclusive time-chunk locks on explicit intervals only; no priorities/revocation,
  no shared/append/replace types. Tasks without explicit intervals take no upfront lock.
* The stored spec (`GET /task/{id}`) is the posted JSON plus the Overlord's id, groupId,
  resource and context defaults; Druid re-serialises the task with every default filled in
  and drops unknown keys.
* Sub-tasks (opt-in `sub_tasks`) are `single_phase_sub_task` only, are not retried
  (`maxRetry`), and serve no reports of their own; streaming tasks do not pass through a
  PUBLISHING phase.
* A streaming task group hands off only whole segmentGranularity buckets behind its frontier
  (and late-data window); the open bucket carries over to the next group. Druid publishes the
  open bucket's rows too, as a partial segment that later groups add to. A failed streaming
  task loses nothing: its successor is at the frontier at once.
* Some answers REFERENCE marks UNCONFIRMED are guesses here: `/leader` with no leader known
  is 204; an unconvertible `max`/`offset` query parameter is 404 (JAX-RS); 415 and 406
  bodies are empty; the Jetty HTML pages are approximations; the 403 message is "Unauthorized".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from overlord import endpoints
from overlord.sim.access import forbidden, not_acceptable, role_reply, unauthenticated
from overlord.sim.cluster import ClusterConfig, SimCluster
from overlord.sim.faults import FaultEvent, Faults, FaultState, RestartOptions, drop_connection
from overlord.sim.http_cluster import ClusterRoutes
from overlord.sim.http_tasks import TaskRoutes, json_reply
from overlord.sim.supervisors import SupervisorRoutes, SupervisorStore, store_for

__all__ = ["FaultEvent", "Faults", "SimConfig", "Simulator", "serve"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RESTART_LOST = (
    "The worker that this task was assigned disappeared and did not report cleanup within "
    "timeout[PT15M]. See overlord and middleManager/indexer logs for more details."
)


class SimConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    cluster: ClusterConfig = msgspec.field(default_factory=ClusterConfig)
    faults: Faults = msgspec.field(default_factory=Faults)
    users: dict[str, str] = {}  # basic auth: user -> password; empty = security off
    forbidden_users: list[str] = []  # authenticated, but every secured call answers 403
    host_name: str = "overlord-sim"
    leader_url: str | None = None  # None: this node is the leader
    supervisor_types: list[str] = msgspec.field(default_factory=lambda: ["kafka", "kinesis"])


class Simulator:
    """One simulated Overlord node (plus the few Coordinator endpoints the orchestrator reads)."""

    cluster: SimCluster  # assignable: two nodes sharing one cluster share one metadata store

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        peer: Simulator | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """`wall` is the cluster's clock (task times, streams' event time); tests inject one.
        A peer's cluster keeps its own."""
        self.config = config or SimConfig()
        cluster = peer.cluster if peer is not None else SimCluster(self.config.cluster, wall=wall)
        self.cluster = cluster
        self._own_cluster = cluster if peer is None else None  # only the owner stops its timers
        self.leader_url = self.config.leader_url
        self.requests: Counter[str] = Counter()
        self.submissions = 0
        self.duplicate_submissions = 0
        self.started = time.time()
        self.fault_state = FaultState(self.config.faults, self.config.cluster.seed)
        # A standby sharing a peer's cluster leaves the peer's stream faults alone.
        self._apply_cluster_faults(self.config.faults, streams=peer is None)
        self._events_armed = False

    @property
    def faults(self) -> Faults:
        return self.fault_state.faults

    @property
    def supervisors(self) -> SupervisorStore:
        """The supervisors of this node's cluster (shared with a peer, like its tasks)."""
        return store_for(self.cluster, self.config)

    # --- application -------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        handlers: dict[str, Handler] = {
            **TaskRoutes(self).handlers(),
            **ClusterRoutes(self).handlers(),
            **SupervisorRoutes(self).handlers(),
        }
        for ep in endpoints.ALL:
            app.router.add_route(ep.method, ep.template, handlers[ep.name], name=ep.name)
        r = app.router
        r.add_get("/sim/stats", self.sim_stats, name="sim_stats")
        r.add_post("/sim/reset", self.sim_reset, name="sim_reset")
        r.add_get("/sim/faults", self.sim_get_faults, name="sim_faults_get")
        r.add_post("/sim/faults", self.sim_set_faults, name="sim_faults")
        r.add_post("/sim/restart", self.sim_restart, name="sim_restart")
        r.add_post("/sim/leader", self.sim_leader, name="sim_leader")
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, _app: web.Application) -> None:
        self._arm_events()

    async def _on_shutdown(self, _app: web.Application) -> None:
        self.fault_state.cancel()
        own = self._own_cluster
        if own is not None and self.cluster is own:  # a peer sharing it may still be serving
            own.cancel_timers()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name or "unknown"
        self.requests[route] += 1
        if request.path.startswith("/sim/"):
            return await handler(request)
        faults = self.fault_state
        delay = faults.latency_s(route)
        if delay:
            await asyncio.sleep(delay)
        if faults.faults.reset_rate and faults.roll(faults.faults.reset_rate, route):
            faults.injected["resets"] += 1
            drop_connection(request)
            return web.Response(status=500)  # never delivered: the connection is gone
        early = unauthenticated(self, request) or role_reply(self, request, route)
        if early is not None:
            return early
        if faults.in_outage() and request.path.startswith("/druid/"):
            faults.injected["outage_503"] += 1
            return web.Response(status=503)
        if faults.warming_up(route) and not self._unknown_id(request):
            faults.injected["warmup_503"] += 1
            return web.Response(status=503)
        if faults.faults.error_rate and faults.roll(faults.faults.error_rate, route):
            return faults.error_reply(route)
        refused = not_acceptable(request, route) or forbidden(self, request, route)
        if refused is not None:
            return refused
        response = await handler(request)
        if faults.faults.reset_after_rate and faults.roll(faults.faults.reset_after_rate, route):
            faults.injected["resets_after"] += 1
            drop_connection(request)
        return response

    def _unknown_id(self, request: web.Request) -> bool:
        """Whether the path names a task or supervisor this cluster does not know: Druid's
        resource filters answer that 404 before a resource method can need the task queue
        or supervisor manager (and answer 503 while a new leader starts them)."""
        task_id = request.match_info.get("task_id")
        if task_id is not None:
            return task_id not in self.cluster.tasks
        supervisor_id = request.match_info.get("supervisor_id")
        return supervisor_id is not None and supervisor_id not in self.supervisors.supervisors

    # --- faults ------------------------------------------------------------------------

    def set_faults(self, faults: Faults) -> None:
        """Replace the faults in force (timed events start counting now)."""
        self.fault_state.cancel()
        self.fault_state.faults = faults
        self.fault_state.apply_deadlines(faults)
        self._apply_cluster_faults(faults)
        self._events_armed = False
        self._arm_events()

    def _apply_cluster_faults(self, faults: Faults, *, streams: bool = True) -> None:
        cluster = self.cluster.config
        if faults.transient_rate is not None:
            cluster.transient_rate = faults.transient_rate
        if faults.structural_rate is not None:
            cluster.structural_rate = faults.structural_rate
        if faults.stuck_waiting_datasources is not None:
            cluster.stuck_waiting_datasources = list(faults.stuck_waiting_datasources)
            with contextlib.suppress(RuntimeError):  # no loop yet: nothing is stuck before we serve
                self.cluster.release_stuck()
        if streams:
            with contextlib.suppress(RuntimeError):  # no loop yet: no supervisor to start tasks
                self.supervisors.apply_faults(faults)

    def _arm_events(self) -> None:
        if self._events_armed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # armed by the app's startup instead
        self._events_armed = True
        for event in self.faults.events:
            handle = loop.call_later(event.at_s, self._fire, event)
            self.fault_state.timers.append(handle)

    def _fire(self, event: FaultEvent) -> None:
        state = self.fault_state
        state.injected[f"event_{event.kind}"] += 1
        now = time.monotonic()
        if event.kind == "restart":
            self.restart(event.mode, event.duration_s, event.warmup_s)
        elif event.kind == "no_leader":
            state.no_leader_until = now + event.duration_s
        elif event.kind == "outage":
            state.outage_until = now + event.duration_s
        elif event.kind == "warmup":
            state.warmup_until = now + event.duration_s
        elif event.kind == "standby":
            self.leader_url = event.leader_url
            if event.duration_s > 0:
                loop = asyncio.get_running_loop()
                state.timers.append(loop.call_later(event.duration_s, self._lead_again))

    def _lead_again(self) -> None:
        self.leader_url = None

    def restart(self, mode: str = "keep", down_s: float = 0.0, warmup_s: float = 0.0) -> int:
        """An Overlord restart, as clients see one (REFERENCE §1.2): for `down_s` no leader is
        known (503 with Jetty's HTML page on every API path), then for `warmup_s` the new
        leader's task queue, runner and supervisor manager are starting (503 empty on the
        endpoints that need them; task status, reports and logs are served).

        Tasks live in the metadata store, so by default (`keep`) the new leader re-attaches
        its running tasks; `fail` fails them as if their workers had gone too, and `forget`
        loses them as only a lost metadata store would (404 after). Returns how many tasks
        were failed or forgotten."""
        now = time.monotonic()
        state = self.fault_state
        if down_s > 0:
            state.no_leader_until = max(state.no_leader_until, now + down_s)
        if warmup_s > 0:
            state.warmup_until = max(state.warmup_until, now + down_s + warmup_s)
        if mode == "forget":
            return self.cluster.forget_active()
        if mode == "fail":
            return self.cluster.fail_active(RESTART_LOST)
        return 0

    # --- control surface ---------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        cluster = self.cluster
        overlord_requests = {k: v for k, v in self.requests.items() if not k.startswith("sim_")}
        return {
            "requests": dict(sorted(overlord_requests.items())),
            "requests_total": sum(overlord_requests.values()),
            "tasks": {k: v for k, v in cluster.status_counts.items() if v > 0},
            "runner": {k: v for k, v in cluster.runner_counts.items() if v > 0},
            "submissions": self.submissions,
            "duplicate_submissions": self.duplicate_submissions,
            "max_live_tasks_per_interval": cluster.max_live_per_interval,
            "max_successes_per_interval": cluster.max_successes_per_interval,
            "live_tasks": len(cluster.active),
            "slots": {"capacity": cluster.capacity, "used": cluster.used},
            "supervisors": len(self.supervisors.supervisors),
            "supervisor_restarts": self.supervisors.restarts,
            "supervisor_resets": self.supervisors.resets,
            # Batch or compaction tasks that ran where a streaming task still wrote: the
            # orchestrator exists to keep this at 0. The list keeps the latest ones.
            "batch_stream_overlaps": self.supervisors.overlaps.count,
            "batch_stream_overlap_tasks": list(self.supervisors.overlaps.latest),
            "faults_injected": dict(self.fault_state.injected),
            "role": "standby" if self.leader_url else "leader",
            "cpu_s": round(time.process_time(), 3),
        }

    async def sim_stats(self, _request: web.Request) -> web.Response:
        return json_reply(self.stats())

    async def sim_reset(self, _request: web.Request) -> web.Response:
        """Forget every task, supervisor and count; faults go back to the configured ones."""
        self.cluster.reset()
        self.supervisors.reset()
        self.requests.clear()
        self.submissions = self.duplicate_submissions = 0
        self.leader_url = self.config.leader_url
        self.set_faults(self.config.faults)
        self.fault_state.injected.clear()
        return json_reply({"reset": True})

    async def sim_get_faults(self, _request: web.Request) -> web.Response:
        return json_reply(self.faults)

    async def sim_set_faults(self, request: web.Request) -> web.Response:
        try:
            faults = msgspec.json.decode(await request.read(), type=Faults)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return json_reply({"error": f"bad faults: {exc}"}, 400)
        self.set_faults(faults)
        return json_reply(self.faults)

    async def sim_restart(self, request: web.Request) -> web.Response:
        """`{"mode": "keep"|"fail"|"forget", "down_s": 2.0, "warmup_s": 5.0}` (all optional;
        `keep` with no unavailable time by default)."""
        body = await request.read()
        try:
            options = msgspec.json.decode(body or b"{}", type=RestartOptions)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return json_reply({"error": f"bad restart options: {exc}"}, 400)
        affected = self.restart(options.mode, options.down_s, options.warmup_s)
        return json_reply({"mode": options.mode, "affected": affected})

    async def sim_leader(self, request: web.Request) -> web.Response:
        """`{"leader_url": "http://other:8090"}` makes this node a standby; null, the leader."""
        try:
            body = msgspec.json.decode(await request.read(), type=dict[str, str | None])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return json_reply({"error": f"bad leader body: {exc}"}, 400)
        self.leader_url = body.get("leader_url")
        return json_reply({"leader_url": self.leader_url})


async def serve(sim: Simulator, host: str, port: int) -> web.AppRunner:
    """Start `sim` on host:port; returns the runner (call `cleanup()` to stop)."""
    runner = web.AppRunner(sim.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
