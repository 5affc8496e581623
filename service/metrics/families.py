"""The counters and histograms the daemon feeds as things happen (the gauges are read at
scrape time instead, by `service.metrics.collector`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


class Families:
    """Every pushed metric family, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
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
