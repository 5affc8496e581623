"""Simulated Kafka / Kinesis supervisors (REFERENCE §9): their store and their endpoints.

A running supervisor keeps `taskCount * replicas` streaming tasks alive in the cluster; they
take worker slots like any task, run for `taskDuration`, finish SUCCESS with a streaming
report, hand off what their stream has completed (`streams`), and are replaced by the next
generation. Suspending or terminating lets them publish (finish successfully) and starts no
more. Offsets follow the stream's event time, so status payloads move like a live stream's.
A batch or compaction task that runs where a live stream still writes is counted as a
batch/stream overlap, the hazard the orchestrator's watermark exists to avoid.

The store belongs to the cluster, not the node, so two nodes sharing a cluster (a leader and
a standby) share supervisors too, as they share the metadata store in Druid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import msgspec
from aiohttp import web

from overlord.sim.catalog import FAILURE_KINDS
from overlord.sim.cluster import SimCluster
from overlord.sim.http_tasks import JSON, Handler, json_reply, text_reply
from overlord.sim.periods import standard_seconds
from overlord.sim.streams import Overlaps, StreamClock, earliest_accepted
from overlord.sim.supervisor_reports import build_status, stats_payload
from overlord.sim.tasks import ClusterConfig, SimTask

if TYPE_CHECKING:
    from overlord.sim.faults import Faults
    from overlord.sim.server import SimConfig, Simulator

_SPEC_CLASS = "org.apache.druid.indexing.overlord.supervisor.SupervisorSpec"
_BUILTIN_TYPES = ["NoopSupervisorSpec", "autocompact", "scheduled_batch"]
# Druid's default `taskUnhealthinessThreshold` (REFERENCE names UNHEALTHY_TASKS but not when).
UNHEALTHY_TASKS_AFTER = 3
# A failing streaming task fails this soon (wall seconds), not at the end of its taskDuration.
STREAM_FAILURE_AFTER_S = 1.0


class SpecRejection(Exception):
    pass


@dataclass(slots=True, eq=False)
class SimSupervisor:
    id: str
    type: str
    datasource: str
    stream: str
    spec: dict[str, Any]
    created: float
    clock: StreamClock
    suspended: bool = False
    generation: int = 0
    tasks: list[str] = field(default_factory=list)
    failures: int = 0  # streaming tasks failed in a row

    @property
    def io(self) -> dict[str, Any]:
        io: dict[str, Any] = self.spec["spec"]["ioConfig"]
        return io

    @property
    def task_slots(self) -> int:
        return int(self.io.get("taskCount", 1)) * int(self.io.get("replicas", 1))

    @property
    def duration_s(self) -> float:
        return standard_seconds(str(self.io.get("taskDuration", "PT1H")))


class SupervisorStore:
    def __init__(self, cluster: SimCluster, config: SimConfig) -> None:
        self.cluster = cluster
        self.config = config
        self.supervisors: dict[str, SimSupervisor] = {}
        self.unhealthy: set[str] = set()
        self.lost_contact_until: dict[str, float] = {}
        self.out_of_range: set[str] = set()
        self.failing: dict[str, str] = {}
        self.overlaps = Overlaps()
        self.resets = 0
        # POSTs that restarted a supervisor's tasks (a create, or an update not skipped).
        self.restarts = 0
        cluster.on_task_end.append(self._task_ended)
        cluster.on_task_start.append(self._task_started)

    def reset(self) -> None:
        self.supervisors.clear()
        self.unhealthy.clear()
        self.lost_contact_until.clear()
        self.out_of_range.clear()
        self.failing.clear()
        self.overlaps.clear()
        self.resets = self.restarts = 0

    def apply_faults(self, faults: Faults) -> None:
        """The stream faults of `faults`: lost contact for a while, offsets out of range until
        lifted, failing streaming tasks (from the next task on)."""
        now = self.cluster.wall()
        self.set_unhealthy(set(faults.unhealthy_supervisors or ()))
        self.lost_contact_until = {s: now + d for s, d in faults.lost_contact_supervisors.items()}
        recovered = self.out_of_range - set(faults.offsets_out_of_range_supervisors)
        self.out_of_range = set(faults.offsets_out_of_range_supervisors)
        self.failing = dict(faults.failing_stream_tasks)
        for sid in recovered:
            if sid in self.supervisors:
                self._fill(self.supervisors[sid])

    def set_unhealthy(self, ids: set[str]) -> None:
        """Supervisors that cannot reach their stream: no new tasks until they recover."""
        recovered = self.unhealthy - ids
        self.unhealthy = ids
        for sid in recovered:
            if sid in self.supervisors:
                self._fill(self.supervisors[sid])

    def upsert(self, spec: dict[str, Any], skip_if_unmodified: bool) -> tuple[str, bool, bool]:
        """Create or update; returns (id, modified, restarted)."""
        wall = self.cluster.wall()
        sup = _normalise(spec, self.config.supervisor_types, self.cluster.config, wall)
        old = self.supervisors.get(sup.id)
        modified = old is None or old.spec != sup.spec
        if old is not None and not modified and skip_if_unmodified:
            return sup.id, False, False
        if old is not None:  # graceful restart: current tasks publish, new ones start
            sup.generation = old.generation
            self._publish(old)
            # The same stream goes on: its event time and what is handed off carry over.
            sup.clock, sup.created = old.clock, old.created
        if old is not None:
            self.restarts += 1
        self.supervisors[sup.id] = sup
        self._fill(sup)
        return sup.id, modified, True

    def set_suspended(self, sup: SimSupervisor, suspended: bool) -> None:
        sup.suspended = suspended
        sup.spec["suspended"] = suspended
        if suspended:
            self._publish(sup)
        else:
            self._fill(sup)

    def reset_offsets(self, sup: SimSupervisor) -> None:
        """Forget the stored offsets: the tasks stop and new ones read from the latest
        record, so the backlog is skipped (data lost, as a real reset loses it)."""
        self.resets += 1
        self._publish(sup)
        sup.clock.behind_s, sup.clock.behind_at = 0.0, self.cluster.wall()
        self._fill(sup)

    def terminate(self, sup: SimSupervisor) -> None:
        self._publish(sup)
        del self.supervisors[sup.id]

    def fault(self, sup: SimSupervisor) -> str | None:
        """The stream fault `sup` shows now, if any (see `apply_faults`)."""
        if sup.id in self.unhealthy:
            return "unable_to_connect"
        if sup.id in self.out_of_range:
            return "offsets_out_of_range"
        if self.cluster.wall() < self.lost_contact_until.get(sup.id, -1.0):
            return "lost_contact"
        if sup.failures >= UNHEALTHY_TASKS_AFTER:
            return "unhealthy_tasks"
        return None

    def state(self, sup: SimSupervisor) -> tuple[str, str, bool]:
        """(state, detailedState, healthy), with the states of REFERENCE §9.2.

        REFERENCE lists the states but not which one offsets out of range lead to. The
        closest documented one is chosen: the supervisor fails to read its stored offsets
        from the stream, a stream exception in a supervisor that had connected before, which
        is LOST_CONTACT_WITH_STREAM.
        """
        fault = self.fault(sup)
        if fault == "unable_to_connect":
            return "UNHEALTHY_SUPERVISOR", "UNABLE_TO_CONNECT_TO_STREAM", False
        if fault in ("offsets_out_of_range", "lost_contact"):
            return "UNHEALTHY_SUPERVISOR", "LOST_CONTACT_WITH_STREAM", False
        if fault == "unhealthy_tasks":
            return "UNHEALTHY_TASKS", "UNHEALTHY_TASKS", False
        if sup.suspended:
            return "SUSPENDED", "SUSPENDED", True
        return "RUNNING", "RUNNING", True

    def live_tasks(self, sup: SimSupervisor) -> list[SimTask]:
        tasks = self.cluster.tasks
        return [tasks[t] for t in sup.tasks if t in tasks and tasks[t].active]

    def _fill(self, sup: SimSupervisor) -> None:
        self._spawn(sup)
        sup.clock.set_reading(self.writing(sup), self.cluster.wall())

    def _spawn(self, sup: SimSupervisor) -> None:
        # Out-of-range offsets stop the supervisor before it can create tasks; lost contact
        # does not stop tasks, which read the stream themselves.
        blocked = sup.id in self.unhealthy or sup.id in self.out_of_range
        if sup.suspended or blocked or sup.id not in self.supervisors:
            return
        sup.tasks = [t.id for t in self.live_tasks(sup)]
        duration = self.cluster.config.stream_task_duration_s or sup.duration_s
        task_type = f"index_{sup.type}"
        outcome = self.failing.get(sup.id, "success")
        if outcome != "success":
            duration = min(duration, STREAM_FAILURE_AFTER_S)
        while len(sup.tasks) < sup.task_slots:
            sup.generation += 1
            window = sup.clock.message_window(self.cluster.wall(), sup.duration_s)
            task = self.cluster.add_stream_task(
                sup.id, task_type, sup.datasource, sup.generation, duration, outcome, window
            )
            sup.tasks.append(task.id)

    def _publish(self, sup: SimSupervisor) -> None:
        for task in self.live_tasks(sup):
            sup.tasks.remove(task.id)
            if task.runner == "RUNNING":
                self.cluster.outcomes.finish(task.id)  # hands off and succeeds
            else:
                self.cluster.shutdown(task.id)
        sup.clock.set_reading(False, self.cluster.wall())

    def _task_ended(self, task: SimTask) -> None:
        sup = self.supervisors.get(task.supervisor or "")
        if sup is None:
            return
        if task.status == "SUCCESS":
            sup.failures = 0
            served = self.cluster.served[sup.datasource]
            wall = self.cluster.wall()
            others = [t.payload for t in self.live_tasks(sup) if t.id != task.id]
            for span in sup.clock.hand_off(wall, earliest_accepted(sup.clock, wall, others)):
                served[span[2]] = span
        elif task.outcome in FAILURE_KINDS:  # not a shutdown: a failure of its own
            sup.failures += 1
        if task.id in sup.tasks:
            self._fill(sup)

    # --- batch tasks where a stream still writes -------------------------------------------

    def _task_started(self, task: SimTask) -> None:
        if task.supervisor is not None:  # a stream (re)starts under running batch tasks
            for other in list(self.cluster.active.values()):
                if other.datasource == task.datasource and other.runner == "RUNNING":
                    self._check_overlap(other)
        else:
            self._check_overlap(task)

    def writing(self, sup: SimSupervisor) -> bool:
        """Whether the stream still writes: running, with its tasks alive or starting."""
        return not sup.suspended and bool(self.live_tasks(sup))

    def _check_overlap(self, task: SimTask) -> None:
        streams = [
            (sup.id, sup.clock)
            for sup in self.supervisors.values()
            if sup.datasource == task.datasource and self.writing(sup)
        ]
        if streams:
            self.overlaps.check(task, streams)


_STORES: WeakKeyDictionary[SimCluster, SupervisorStore] = WeakKeyDictionary()


def store_for(cluster: SimCluster, config: SimConfig) -> SupervisorStore:
    store = _STORES.get(cluster)
    if store is None:
        store = _STORES[cluster] = SupervisorStore(cluster, config)
    return store


def _normalise(
    raw: dict[str, Any], types: list[str], config: ClusterConfig, wall: float
) -> SimSupervisor:
    kind = raw.get("type")
    if kind is None:
        raise SpecRejection(
            f"Could not resolve subtype of [simple type, class {_SPEC_CLASS}]: missing type id "
            "property 'type'"
        )
    if kind not in types:
        raise SpecRejection(
            f"Please make sure to load all the necessary extensions and jars with type '{kind}'. "
            f"Could not resolve type id '{kind}' as a subtype of `{_SPEC_CLASS}` known type ids "
            f"= [{', '.join(_BUILTIN_TYPES + types)}]"
        )
    nested_spec = raw.get("spec")
    inner: dict[str, Any] = nested_spec if isinstance(nested_spec, dict) else raw
    schema = dict(inner.get("dataSchema") or {})
    io = dict(inner.get("ioConfig") or {})
    tuning = dict(inner.get("tuningConfig") or {"type": kind})
    datasource = schema.get("dataSource")
    if not datasource:
        raise SpecRejection(_problem("Invalid value for field [dataSource]: must not be null"))
    if config.druid_version >= 37 and schema.get("parser") is not None:
        raise SpecRejection(_problem("parser was removed in Druid 37"))
    stream = io.get("topic") or io.get("topicPattern") if kind == "kafka" else io.get("stream")
    if not stream:
        need = "topic or topicPattern" if kind == "kafka" else "stream"
        raise SpecRejection(_problem(f"ioConfig needs {need}"))
    try:
        standard_seconds(str(io.setdefault("taskDuration", "PT1H")))
        clock = StreamClock.start(config, schema, io, wall)
    except ValueError as exc:
        raise SpecRejection(_problem(str(exc))) from exc
    for key, default in (("taskCount", 1), ("replicas", 1), ("startDelay", "PT5S")):
        io.setdefault(key, default)
    io.setdefault("type", kind)
    nested = {"dataSchema": schema, "ioConfig": io, "tuningConfig": tuning}
    sid = str(raw.get("id") or datasource)
    suspended = bool(raw.get("suspended", False))
    spec = {"type": kind, "id": sid, "spec": nested, **nested}
    spec.update(context=raw.get("context"), suspended=suspended)
    return SimSupervisor(sid, kind, str(datasource), str(stream), spec, wall, clock, suspended)


def _problem(text: str) -> str:
    return f"Cannot construct instance of `{_SPEC_CLASS}`, problem: {text}"


class SupervisorRoutes:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def handlers(self) -> dict[str, Handler]:
        return {
            "supervisors": self.listing,
            "supervisor_create": self.create,
            "supervisor_spec": self.per_id(lambda s: json_reply(s.spec)),
            "supervisor_status": self.per_id(self._status),
            "supervisor_health": self.per_id(self._health),
            "supervisor_stats": self.per_id(self._stats),
            "supervisor_suspend": self.per_id(lambda s: self._toggle(s, suspend=True)),
            "supervisor_resume": self.per_id(lambda s: self._toggle(s, suspend=False)),
            "supervisor_terminate": self.per_id(self._terminate),
            "supervisor_reset": self.per_id(self._reset),
            "supervisor_suspend_all": self.bulk(lambda st, s: st.set_suspended(s, True)),
            "supervisor_resume_all": self.bulk(lambda st, s: st.set_suspended(s, False)),
            "supervisor_terminate_all": self.bulk(lambda st, s: st.terminate(s)),
        }

    @property
    def store(self) -> SupervisorStore:
        store = self.sim.supervisors
        store.set_unhealthy(set(self.sim.faults.unhealthy_supervisors or ()))
        return store

    async def listing(self, request: web.Request) -> web.Response:
        store, q = self.store, request.query
        if not any(k in q for k in ("state", "full", "system")):
            return json_reply(list(store.supervisors))
        version = self.sim.cluster.config.druid_version
        rows = []
        for sup in store.supervisors.values():
            state, detailed, healthy = store.state(sup)
            row: dict[str, Any] = {"id": sup.id}
            if version >= 38:
                row["dataSource"] = sup.datasource
            row.update(state=state, detailedState=detailed, healthy=healthy)
            # `suspended` is only filled in with ?system (REFERENCE §9.1 quirk).
            row["suspended"] = sup.suspended if "system" in q else False
            if "full" in q:
                row["spec"] = sup.spec
            if "system" in q:
                row.update(
                    specString=msgspec.json.encode(sup.spec).decode(),
                    type=sup.type,
                    source=sup.stream,
                )
            rows.append(row)
        return json_reply(rows)

    async def create(self, request: web.Request) -> web.Response:
        if request.content_type != JSON:
            return web.Response(status=415)
        try:
            raw = msgspec.json.decode(await request.read())
            if not isinstance(raw, dict):
                raise SpecRejection(f"Cannot deserialize value of type `{_SPEC_CLASS}`")
            skip = request.query.get("skipRestartIfUnmodified") == "true"
            sid, modified, restarted = self.store.upsert(raw, skip)
        except msgspec.DecodeError as exc:
            return json_reply({"error": f"Unexpected character in JSON body: {exc}"}, 400)
        except SpecRejection as exc:
            return json_reply({"error": str(exc)}, 400)
        if self.sim.cluster.config.druid_version >= 38:
            return json_reply({"id": sid, "modified": modified, "restarted": restarted})
        return json_reply({"id": sid})

    def per_id(self, action: Callable[[SimSupervisor], web.Response]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            sid = request.match_info["supervisor_id"]
            sup = self.store.supervisors.get(sid)
            if sup is None:
                return text_reply(f"Cannot find any supervisor with id: [{sid}]", 404)
            return action(sup)

        return handler

    def bulk(self, action: Callable[[SupervisorStore, SimSupervisor], None]) -> Handler:
        async def handler(_request: web.Request) -> web.Response:
            store = self.store
            for sup in list(store.supervisors.values()):
                action(store, sup)
            return json_reply({"status": "success"})

        return handler

    def _status(self, sup: SimSupervisor) -> web.Response:
        return json_reply(build_status(self.store, sup, self.sim.cluster.config))

    def _health(self, sup: SimSupervisor) -> web.Response:
        healthy = self.store.state(sup)[2]
        return json_reply({"healthy": healthy}, 200 if healthy else 503)

    def _stats(self, sup: SimSupervisor) -> web.Response:
        return json_reply(stats_payload(self.store.live_tasks(sup), self.sim.cluster))

    def _toggle(self, sup: SimSupervisor, *, suspend: bool) -> web.Response:
        if sup.suspended == suspend:
            word = "suspended" if suspend else "running"
            return json_reply({"error": f"[{sup.id}] is already {word}"}, 400)
        self.store.set_suspended(sup, suspend)
        return json_reply(sup.spec)

    def _terminate(self, sup: SimSupervisor) -> web.Response:
        self.store.terminate(sup)
        return json_reply({"id": sup.id})

    def _reset(self, sup: SimSupervisor) -> web.Response:
        self.store.reset_offsets(sup)
        return json_reply({"id": sup.id})
