"""Prometheus metrics for the daemon (`GET /metrics`).

Three sources, each read the cheapest way it allows:

* **Overlord calls** are timed by `InstrumentedOverlord`, a proxy with the same methods as
  `actors.ports.Overlord` wrapped around the HTTP client (one call includes the client's own
  retries; `druid_orch_overlord_http_requests_total` counts the raw HTTP requests).
* **Decisions** (submissions, retries by classification and rule) come from tailing the event
  log (`EventLog.subscribe`), so they count what was recorded, never what was merely tried.
* **Append latency** of job streams is heard from the orchestrator's listener hook.
* **State** (breakers, poller and writer statistics) is read at scrape time by a collector
  from the running `Orchestrator`; histograms of poll rounds and batch sizes are fed from the
  same statistics by `sample()`. Jobs by phase are counted in the log's read model just
  before each scrape (`refresh_phases`), so every job ever recorded counts, across restarts:
  an alert on dead jobs does not clear itself when the daemon restarts.

Every `Metrics` has its own registry, so several orchestrators (tests) never share counters.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import msgspec
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from actors.job.state import PHASES
from actors.job.stream import Transition
from actors.orchestrator import Orchestrator
from actors.ports import Overlord
from eventlog.events import FailureClassified, JobAccepted, RetryScheduled, Submitted
from overlord.errors import (
    OverlordError,
    OverlordRejectedError,
    OverlordUnavailableError,
    TaskNotFoundError,
)
from overlord.models import (
    DataSourceCoverage,
    SupervisorCreated,
    SupervisorState,
    SupervisorStatus,
    TaskStatus,
    TaskStatusPlus,
    TotalWorkerCapacity,
    WorkerInfo,
)
from service.supervisor_metrics import supervisor_gauges

T = TypeVar("T")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


def _outcome(exc: OverlordError) -> str:
    if isinstance(exc, TaskNotFoundError):
        return "not_found"
    if isinstance(exc, OverlordUnavailableError):
        return "unavailable"
    if isinstance(exc, OverlordRejectedError):
        return "rejected"
    return "error"


class Metrics:
    """The daemon's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.overlord_requests = Counter(
            "druid_orch_overlord_requests",
            "Overlord calls by endpoint and outcome (one call includes the client's retries)",
            ["endpoint", "outcome"],
            registry=r,
        )
        self.overlord_latency = Histogram(
            "druid_orch_overlord_request_duration_seconds",
            "Overlord call latency by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.append_latency = Histogram(
            "druid_orch_eventlog_append_duration_seconds",
            "Time from a job-stream append's call to its commit (includes waiting for the group "
            "commit)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "druid_orch_eventlog_batch_events",
            "Events committed per group-commit transaction",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.poll_round = Histogram(
            "druid_orch_poll_round_duration_seconds",
            "Duration of status poll rounds (sampled: the latest round when the count moved)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.submissions = Counter(
            "druid_orch_submissions",
            "Jobs accepted (kind=job) and Druid tasks submitted (kind=task) since start",
            ["kind"],
            registry=r,
        )
        self.failures = Counter(
            "druid_orch_failures_classified",
            "Failed attempts by classification and deciding rule",
            ["classification", "rule"],
            registry=r,
        )
        self.retries = Counter(
            "druid_orch_retries",
            "Retries scheduled, by the classification and rule of the failure retried",
            ["classification", "rule"],
            registry=r,
        )
        self.orch: Orchestrator | None = None
        self.http_requests: Callable[[], int] | None = None
        self._seen_batches = 0
        self._seen_rounds = 0
        r.register(_StateCollector(self))
        self.phase_counts: dict[str, int] = {}
        self.reconciled_at = 0.0  # the end of the last reconciliation seen to succeed

    def bind(self, orch: Orchestrator, *, http_requests: Callable[[], int] | None = None) -> None:
        """Start reading state from `orch`, and time the appends to its jobs' streams."""
        self.orch = orch
        self.http_requests = http_requests
        self._seen_batches = len(orch.write_stats().batch_sizes)
        orch.listen(self._recorded)

    def _recorded(self, recorded: Transition) -> None:
        self.append_latency.observe(recorded.append_s)

    def sample(self) -> None:
        """Feed the batch-size and poll-round histograms from the running statistics."""
        orch = self.orch
        if orch is None:
            return
        sizes = orch.write_stats().batch_sizes
        for size in sizes[self._seen_batches :]:
            self.batch_size.observe(size)
        self._seen_batches = len(sizes)
        stats = orch.poll_stats()
        if stats is not None and stats.rounds > self._seen_rounds:
            self._seen_rounds = stats.rounds
            self.poll_round.observe(stats.last_round_s)

    def render(self) -> bytes:
        self.sample()
        return generate_latest(self.registry)

    async def refresh_phases(self) -> None:
        """Count the jobs by phase in the read model (one grouped index scan)."""
        if self.orch is not None:
            self.phase_counts = await self.orch.queries.phase_counts()

    async def follow(self, orch: Orchestrator, *, sample_every_s: float = 1.0) -> None:
        """Count decisions as they are committed, until cancelled."""
        last_rule: dict[str, tuple[str, str]] = {}
        sampler = asyncio.get_running_loop().create_task(self._sample_every(sample_every_s))
        try:
            async for recorded in orch.tail():
                event = recorded.event
                if isinstance(event, JobAccepted):
                    self.submissions.labels("job").inc()
                elif isinstance(event, Submitted):
                    self.submissions.labels("task").inc()
                elif isinstance(event, FailureClassified):
                    last_rule[recorded.stream_id] = (event.classification, event.rule)
                    self.failures.labels(event.classification, event.rule).inc()
                elif isinstance(event, RetryScheduled):
                    classification, rule = last_rule.pop(recorded.stream_id, ("unknown", "unknown"))
                    self.retries.labels(classification, rule).inc()
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)

    async def _sample_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.sample()

    def instrument(self, overlord: Overlord) -> InstrumentedOverlord:
        return InstrumentedOverlord(overlord, self)


class _StateCollector(Collector):
    """Reads the orchestrator's in-memory state at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        orch = self.metrics.orch
        jobs = GaugeMetricFamily(
            "druid_orch_jobs", "Jobs the event log holds, by phase", labels=["phase"]
        )
        breaker = GaugeMetricFamily(
            "druid_orch_overlord_breaker_state",
            "The Overlord circuit breaker: 1 for its current state",
            labels=["state"],
        )
        paused = GaugeMetricFamily(
            "druid_orch_datasource_paused",
            "1 for each datasource whose breaker is open (structural failures)",
            labels=["datasource"],
        )
        events = CounterMetricFamily(
            "druid_orch_events", "Events recorded by this process, by type", labels=["type"]
        )
        if orch is not None:
            phases = self.metrics.phase_counts
            for phase in PHASES:
                jobs.add_metric([phase], phases.get(phase, 0))
            current = orch.breakers.overlord_phase
            for state in ("closed", "open", "half_open"):
                breaker.add_metric([state], 1.0 if state == current else 0.0)
            for datasource in sorted(orch.breakers.paused):
                paused.add_metric([datasource], 1.0)
            for tag, count in sorted(orch.counters.items()):
                events.add_metric([tag], count)
        yield from (jobs, breaker, paused, events)
        if orch is None:
            return
        written = orch.write_stats()
        yield _counter("druid_orch_eventlog_batches", "Group commits", written.batches)
        yield _counter("druid_orch_eventlog_events", "Events committed", written.events)
        yield _counter(
            "druid_orch_eventlog_refused_batches",
            "Group commits the database refused (a full disk, a read-only file)",
            written.failed_batches,
        )
        refusing = GaugeMetricFamily(
            "druid_orch_eventlog_refusing_writes",
            "1 while the event log refuses writes, from the first refused commit to the next "
            "that succeeds",
        )
        refusing.add_metric([], 0.0 if orch.log_health().refused is None else 1.0)
        yield refusing
        yield _counter(
            "druid_orch_eventlog_writer_restarts",
            "Event-log writer processes lost (killed, crashed) and replaced",
            written.writer_restarts,
        )
        report = orch.last_reconcile
        if report is not None and report.error is None:
            self.metrics.reconciled_at = report.started_at + report.duration_s
        yield GaugeMetricFamily(
            "druid_orch_reconcile_last_success_timestamp_seconds",
            "When the last successful reconciliation with the Overlord ended (0: none yet)",
            value=self.metrics.reconciled_at,
        )
        yield from _slot_gauges(orch)
        yield from supervisor_gauges(orch)
        yield from _watermark_metrics(orch)
        stats = orch.poll_stats()
        if stats is not None:
            yield _counter("druid_orch_poll_rounds", "Status poll rounds", stats.rounds)
            yield _counter(
                "druid_orch_poll_requests", "Requests made by the poller", stats.requests
            )
        if self.metrics.http_requests is not None:
            yield _counter(
                "druid_orch_overlord_http_requests",
                "HTTP requests sent to the Overlord, retries included",
                self.metrics.http_requests(),
            )


def _slot_gauges(orch: Orchestrator) -> Iterator[GaugeMetricFamily]:
    """The slot gate (`actors.supervision.slots`): what this orchestrator's parallel jobs claim, the
    capacity they are held to, and how many jobs wait for room."""
    slots = orch.slots
    values = (
        (
            "druid_orch_slots_claimed",
            "Worker slots claimed by this process's parallel jobs",
            slots.claimed,
        ),
        (
            "druid_orch_slots_capacity",
            "The cluster's worker capacity as last fetched (-1: never known)",
            -1 if slots.capacity is None else slots.capacity,
        ),
        (
            "druid_orch_jobs_waiting_for_slots",
            "Parallel jobs held back by the slot gate",
            len(slots.held),
        ),
    )
    for name, documentation, value in values:
        family = GaugeMetricFamily(name, documentation)
        family.add_metric([], float(value))
        yield family


def _watermark_metrics(orch: Orchestrator) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    """The watermark gate (`actors.supervision.watermark_gate`): jobs it holds back, and how
    often it computed a datasource's streaming watermark."""
    gate = orch.watermark
    if gate is None:
        return
    waiting = GaugeMetricFamily(
        "druid_orch_jobs_waiting_for_watermark",
        "Jobs held back by the streaming watermark of their datasource (or by its absence)",
    )
    waiting.add_metric([], float(len(gate.held)))
    yield waiting
    yield _counter(
        "druid_orch_watermark_computations",
        "Streaming watermarks computed from the Overlord's supervisors",
        gate.computations,
    )


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


class InstrumentedOverlord:
    """An `Overlord` that counts and times every call of the one it wraps."""

    def __init__(self, inner: Overlord, metrics: Metrics) -> None:
        self.inner = inner
        self._count = metrics.overlord_requests
        self._latency = metrics.overlord_latency

    async def _timed(self, endpoint: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await call
        except OverlordError as exc:
            outcome = _outcome(exc)
            raise
        finally:
            self._latency.labels(endpoint).observe(time.perf_counter() - started)
            self._count.labels(endpoint, outcome).inc()

    async def submit(self, task: Mapping[str, Any] | msgspec.Raw) -> str:
        return await self._timed("submit", self.inner.submit(task))

    async def status(self, task_id: str) -> TaskStatusPlus:
        return await self._timed("status", self.inner.status(task_id))

    async def bulk_status(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        return await self._timed("bulk_status", self.inner.bulk_status(task_ids))

    async def tasks(
        self,
        *,
        state: Any = None,
        datasource: str | None = None,
        created_within: str | None = None,
        max_complete: int | None = None,
        task_type: str | None = None,
    ) -> list[TaskStatusPlus]:
        return await self._timed(
            "tasks",
            self.inner.tasks(
                state=state,
                datasource=datasource,
                created_within=created_within,
                max_complete=max_complete,
                task_type=task_type,
            ),
        )

    async def task_spec(self, task_id: str) -> dict[str, Any]:
        return await self._timed("task_spec", self.inner.task_spec(task_id))

    async def reports(self, task_id: str) -> dict[str, Any] | None:
        return await self._timed("reports", self.inner.reports(task_id))

    async def log(self, task_id: str, offset: int = 0) -> str | None:
        return await self._timed("log", self.inner.log(task_id, offset))

    async def shutdown(self, task_id: str) -> None:
        await self._timed("shutdown", self.inner.shutdown(task_id))

    async def workers(self) -> list[WorkerInfo]:
        return await self._timed("workers", self.inner.workers())

    async def total_capacity(self) -> TotalWorkerCapacity:
        return await self._timed("total_capacity", self.inner.total_capacity())

    # --- the supervisor reads of the watermark gate (the inner client must stream) ---------

    async def supervisor_states(self) -> list[SupervisorState]:
        inner: Any = self.inner
        return await self._timed("supervisors", inner.supervisor_states())

    async def supervisor_status(self, supervisor_id: str) -> SupervisorStatus:
        inner: Any = self.inner
        return await self._timed("supervisor_status", inner.supervisor_status(supervisor_id))

    async def supervisor_spec(self, supervisor_id: str) -> dict[str, Any]:
        inner: Any = self.inner
        return await self._timed("supervisor_spec", inner.supervisor_spec(supervisor_id))

    async def datasource_coverage(self, datasource: str) -> DataSourceCoverage | None:
        inner: Any = self.inner
        return await self._timed("coverage", inner.datasource_coverage(datasource))

    # --- the supervisor actors' calls ------------------------------------------------------

    async def create_supervisor(
        self, spec: Mapping[str, Any], *, skip_restart_if_unmodified: bool = False
    ) -> SupervisorCreated:
        inner: Any = self.inner
        call = inner.create_supervisor(spec, skip_restart_if_unmodified=skip_restart_if_unmodified)
        result: SupervisorCreated = await self._timed("supervisor_create", call)
        return result

    async def suspend_supervisor(self, supervisor_id: str) -> dict[str, Any]:
        inner: Any = self.inner
        result: dict[str, Any] = await self._timed(
            "supervisor_suspend", inner.suspend_supervisor(supervisor_id)
        )
        return result

    async def resume_supervisor(self, supervisor_id: str) -> dict[str, Any]:
        inner: Any = self.inner
        result: dict[str, Any] = await self._timed(
            "supervisor_resume", inner.resume_supervisor(supervisor_id)
        )
        return result

    async def terminate_supervisor(self, supervisor_id: str) -> None:
        inner: Any = self.inner
        await self._timed("supervisor_terminate", inner.terminate_supervisor(supervisor_id))

    async def reset_supervisor(self, supervisor_id: str) -> None:
        inner: Any = self.inner
        await self._timed("supervisor_reset", inner.reset_supervisor(supervisor_id))
