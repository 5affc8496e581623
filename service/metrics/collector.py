"""The gauges and counters read at scrape time from the running `Orchestrator`: jobs by
phase, breakers, the event log's writer, reconciliation, slots, the watermark gate, the
poller and the managed supervisors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from actors.job.state import PHASES
from actors.orchestrator import Orchestrator
from service.metrics.supervisors import supervisor_gauges

if TYPE_CHECKING:
    from service.metrics.bridge import Metrics


class StateCollector(Collector):
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
