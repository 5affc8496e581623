"""One simulated task: its record, how it is born (id, intervals, duration, outcome) and how
the Overlord prints it.

Durations and outcomes are drawn from a generator seeded with `(seed, task id)`, so a given
seed and task id behave the same whatever order tasks arrive in. Scripted outcomes (per
datasource and interval, per submission) override the random draw.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from overlord.sim import periods as sim_periods
from overlord.sim.catalog import DEFAULT_STRUCTURAL, DEFAULT_TRANSIENT
from overlord.sim.locks import Span
from overlord.sim.periods import parse_bounds

EPOCH = "1970-01-01T00:00:00.000Z"
NO_LOCATION: dict[str, Any] = {"host": None, "port": -1, "tlsPort": -1}
BATCH_TYPES = frozenset({"index", "index_parallel", "compact"})


class ClusterConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Shape and behaviour of the simulated cluster (also the `[cluster]` of a scenario).

    Mutable on purpose: tests and `POST /sim/faults` change rates and durations at run time,
    and every new task reads the values current at its submission. `workers` and
    `capacity_per_worker` are read when the cluster is created or reset.
    """

    seed: int = 0
    workers: int = 4
    capacity_per_worker: int = 4
    category: str = "_default_worker_category"
    min_duration_s: float = 0.3
    max_duration_s: float = 1.5
    lock_delay_s: float = 0.02  # time in WAITING before the first lock attempt
    transient_rate: float = 0.0
    structural_rate: float = 0.0
    transient_kinds: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_TRANSIENT))
    structural_kinds: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_STRUCTURAL))
    # "<datasource>/<interval>" -> outcome per submission, e.g. ["transient:s3_throttle", "success"]
    scripted: dict[str, list[str]] = msgspec.field(default_factory=dict)
    stuck_waiting_datasources: list[str] = msgspec.field(default_factory=list)
    recently_finished_s: float = 24 * 3600.0
    druid_version: int = 36
    rows_per_task: int = 10_000
    sub_tasks: bool = False  # run index_parallel sub-tasks as tasks of their own (slots!)
    sub_task_splits: int = 2  # input splits, one sub-task each, per parallel task
    stream_partitions: int = 2
    stream_task_duration_s: float | None = None  # None: the spec's taskDuration
    # A stream's event time: it starts at `stream_event_start` (None: the wall clock when the
    # supervisor is created), advances `stream_event_rate` event seconds per wall second, and
    # the tasks read `stream_lag_s` event seconds behind the newest record. With late data,
    # rows also arrive up to the spec's `lateMessageRejectionPeriod` behind what was read.
    stream_event_start: str | None = None
    stream_event_rate: float = 1.0
    stream_lag_s: float = 0.0
    stream_late_data: bool = False
    # Tasks that fell behind (suspended, or unable to start) read this many times as fast as
    # the stream grows until they are back to `stream_lag_s`.
    stream_catch_up: float = 4.0
    queue_max_size: int | None = None  # druid.indexer.queue.maxSize: 429 beyond it

    def __post_init__(self) -> None:
        # Checked here so a bad scenario fails when read, not at its first supervisor.
        if self.stream_event_start is not None:
            parse_instant(self.stream_event_start)
        if self.stream_event_rate <= 0 or self.stream_lag_s < 0 or self.stream_catch_up <= 1:
            raise ValueError(
                f"stream_event_rate must be > 0, stream_lag_s >= 0 and stream_catch_up > 1, "
                f"not {self.stream_event_rate}, {self.stream_lag_s} and {self.stream_catch_up}"
            )


@dataclass(slots=True, eq=False)
class SimTask:
    id: str
    group_id: str
    type: str
    datasource: str
    intervals: list[Span]
    payload: dict[str, Any]
    created: float
    priority: int
    parallel: bool
    duration_s: float
    outcome: str  # "success" or a failure kind name
    parent: str | None = None
    supervisor: str | None = None
    status: str = "RUNNING"
    runner: str = "WAITING"
    queue_inserted: float | None = None
    started: float | None = None
    finished: float | None = None
    duration_ms: int = -1
    error_msg: str | None = None
    location: dict[str, Any] = field(default_factory=lambda: dict(NO_LOCATION))
    worker: int | None = None
    report: dict[str, Any] | None = None
    log: list[str] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    splits_left: int = 0
    children: list[str] = field(default_factory=list)
    # Formatted once: listings print these for every row, and formatting dominates them.
    created_iso: str = ""
    queue_iso: str = EPOCH

    def __post_init__(self) -> None:
        self.created_iso = iso(self.created)

    def queued(self, at: float) -> None:
        self.queue_inserted = at
        self.queue_iso = iso(at)

    @property
    def active(self) -> bool:
        return self.status == "RUNNING"

    @property
    def top_level(self) -> bool:
        """Submitted by a client (not a sub-task, not a supervisor's streaming task)."""
        return self.parent is None and self.supervisor is None

    @property
    def interval_key(self) -> str:
        return "+".join(i[2] for i in self.intervals)

    def say(self, at: float, level: str, thread: str, text: str) -> None:
        self.log.append(f"{iso(at)} {level} [{thread}] {text}")


def iso(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_instant(text: str) -> float:
    """An ISO-8601 instant (UTC unless it says otherwise) as seconds since the epoch."""
    return sim_periods.parse_instant(text).timestamp()


def parse_interval(text: str) -> Span:
    """`start/end`, `start/period` or `period/end`."""
    start, _, end = text.partition("/")
    if not end:
        raise ValueError(f"interval {text!r} has no '/'")
    lo_at, hi_at = parse_bounds(start, end)
    lo, hi = lo_at.timestamp(), hi_at.timestamp()
    return lo, hi, f"{iso(lo)}/{iso(hi)}"


def _letters(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase[:16]) for _ in range(8))


def generated_id(task_type: str, datasource: str, rng: random.Random, now: float) -> str:
    """`<type>_<dataSource>_<8 chars a..p>_<now>` (REFERENCE §3.1)."""
    return f"{task_type}_{datasource}_{_letters(rng)}_{iso(now)}"


def stream_task_id(task_type: str, supervisor_id: str, generation: int, rng: random.Random) -> str:
    """`index_kafka_<supervisorId>_<15 hex of a SHA-1>_<8 chars a..p>`."""
    digest = hashlib.sha1(f"{supervisor_id}:{generation}".encode()).hexdigest()[:15]
    return f"{task_type}_{supervisor_id}_{digest}_{_letters(rng)}"


def intervals_of(payload: dict[str, Any]) -> list[Span]:
    """The intervals a task locks before it runs: explicit batch intervals only.

    Tasks without them (appends, noop, streaming) lock as they go in Druid, so they never
    wait in WAITING here.
    """
    spec = payload.get("spec") or {}
    schema = spec.get("dataSchema") or payload.get("dataSchema") or {}
    granularity = schema.get("granularitySpec") or {}
    raw = granularity.get("intervals") or []
    if not raw:
        io_config = payload.get("ioConfig") or {}
        single = payload.get("interval") or (io_config.get("inputSpec") or {}).get("interval")
        raw = [single] if single else []
    return [parse_interval(str(i)) for i in raw]


def new_task(
    config: ClusterConfig,
    task_id: str,
    payload: dict[str, Any],
    datasource: str,
    intervals: list[Span],
    *,
    nth: int,
    now: float,
) -> SimTask:
    """A submitted task, with its duration and outcome drawn (or scripted)."""
    task_type = str(payload.get("type"))
    rng = random.Random(f"{config.seed}:{task_id}")
    duration = rng.uniform(config.min_duration_s, config.max_duration_s)
    if task_type == "noop":
        run_ms = payload.get("runTime")
        duration = float(run_ms) / 1000 if isinstance(run_ms, int | float) else duration
    key = f"{datasource}/{'+'.join(i[2] for i in intervals)}"
    outcome = _outcome(config, rng, key, nth, batch=task_type in BATCH_TYPES)
    tuning = (payload.get("spec") or {}).get("tuningConfig") or {}
    context = payload.get("context") or {}
    default_priority = 50 if task_type.startswith("index") else 25 if task_type == "compact" else 0
    return SimTask(
        id=task_id,
        group_id=str(payload.get("groupId") or task_id),
        type=task_type,
        datasource=datasource,
        intervals=intervals,
        payload=payload,
        created=now,
        priority=int(context.get("priority", default_priority)),
        parallel=int(tuning.get("maxNumConcurrentSubTasks") or 1) > 1,
        duration_s=duration,
        outcome=outcome,
    )


def _outcome(config: ClusterConfig, rng: random.Random, key: str, nth: int, batch: bool) -> str:
    script = config.scripted.get(key)
    if script:
        step = script[min(nth, len(script) - 1)]
        return step.split(":", 1)[1] if ":" in step else step
    roll = rng.random()
    if not batch:  # noop and kill tasks do not fail by chance
        return "success"
    if roll < config.structural_rate and config.structural_kinds:
        return rng.choice(config.structural_kinds)
    if roll < config.structural_rate + config.transient_rate and config.transient_kinds:
        return rng.choice(config.transient_kinds)
    return "success"


def status_plus(task: SimTask, *, listing: bool) -> dict[str, Any]:
    """`TaskStatusPlus` as `/tasks` (listing) or `/task/{id}/status` prints it."""
    if task.active:
        runner = task.runner
        queued = task.queue_iso if listing and runner != "WAITING" else EPOCH
    else:
        # /tasks says NONE for complete tasks; /task/{id}/status hard-codes WAITING.
        runner = "NONE" if listing else "WAITING"
        queued = EPOCH
    return {
        "id": task.id,
        "groupId": task.group_id,
        "type": task.type,
        "createdTime": task.created_iso,
        "queueInsertionTime": queued,
        "statusCode": task.status,
        "status": task.status,
        "runnerStatusCode": runner,
        "duration": task.duration_ms,
        "location": task.location,
        "dataSource": task.datasource,
        "errorMsg": task.error_msg,
    }


def bulk_entry(task: SimTask) -> dict[str, Any]:
    """`TaskStatus`, a value of the `/taskStatus` map (no type, no runner state)."""
    return {
        "id": task.id,
        "status": task.status,
        "duration": task.duration_ms,
        "errorMsg": task.error_msg,
        "location": task.location,
    }
