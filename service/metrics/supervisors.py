"""The managed supervisors' gauges for `/metrics` (`service.metrics.collector` reads them at
scrape time): state, health and lag, labelled by supervisor id."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

from actors.orchestrator import Orchestrator

__all__ = ["supervisor_gauges"]


def supervisor_gauges(orch: Orchestrator) -> Iterator[GaugeMetricFamily]:
    """Managed supervisors: their state (1 for the current one), health and lag, labelled by
    supervisor id; lag as the last `/status` read by the health watcher reported it."""
    state = GaugeMetricFamily(
        "druid_orch_supervisor_state",
        "1 for a managed supervisor's current detailed state, as the Overlord last reported it",
        labels=["supervisor", "state"],
    )
    healthy = GaugeMetricFamily(
        "druid_orch_supervisor_healthy",
        "1 when the Overlord last reported the managed supervisor healthy, else 0",
        labels=["supervisor"],
    )
    lag = GaugeMetricFamily(
        "druid_orch_supervisor_lag_records",
        "aggregateLag of a managed supervisor (Kafka), from its last status",
        labels=["supervisor"],
    )
    lag_ms = GaugeMetricFamily(
        "druid_orch_supervisor_lag_milliseconds",
        "aggregateLagMillis of a managed supervisor (Kinesis), from its last status",
        labels=["supervisor"],
    )
    lags = orch.streaming.watcher.lags
    for sid, s in sorted(orch.streaming.manager.managed().items()):
        if s.terminated:
            continue
        shown = s.detailed_state or s.observed
        if shown is not None:
            state.add_metric([sid, shown], 1.0)
        if s.healthy is not None:
            healthy.add_metric([sid], 1.0 if s.healthy else 0.0)
        known = lags.get(sid)
        if known is not None and known.records is not None:
            lag.add_metric([sid], float(known.records))
        if known is not None and known.millis is not None:
            lag_ms.add_metric([sid], float(known.millis))
    yield from (state, healthy, lag, lag_ms)
