"""`Metrics`: one registry, and the bridge that feeds it from a running `Orchestrator`.

It hears append latency from the orchestrator's listener hook (`bind`), counts decisions by
tailing the event log (`follow`), so it counts what was recorded, never what was merely
tried, and feeds the poll-round and batch-size histograms from the running statistics
(`sample`). Jobs by phase are counted in the log's read model just before each scrape
(`refresh_phases`), so every job ever recorded counts, across restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest

from actors.job.stream import Transition
from actors.orchestrator import Orchestrator
from actors.ports import Overlord
from eventlog.events import FailureClassified, JobAccepted, RetryScheduled, Submitted
from service.metrics.collector import StateCollector
from service.metrics.families import Families
from service.metrics.overlord_calls import InstrumentedOverlord


class Metrics:
    """The daemon's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.families = Families(self.registry)
        self.orch: Orchestrator | None = None
        self.http_requests: Callable[[], int] | None = None
        self._seen_batches = 0
        self._seen_rounds = 0
        self.registry.register(StateCollector(self))
        self.phase_counts: dict[str, int] = {}
        self.reconciled_at = 0.0  # the end of the last reconciliation seen to succeed

    def bind(self, orch: Orchestrator, *, http_requests: Callable[[], int] | None = None) -> None:
        """Start reading state from `orch`, and time the appends to its jobs' streams."""
        self.orch = orch
        self.http_requests = http_requests
        self._seen_batches = len(orch.write_stats().batch_sizes)
        orch.listen(self._recorded)

    def _recorded(self, recorded: Transition) -> None:
        self.families.append_latency.observe(recorded.append_s)

    def sample(self) -> None:
        """Feed the batch-size and poll-round histograms from the running statistics."""
        orch = self.orch
        if orch is None:
            return
        sizes = orch.write_stats().batch_sizes
        for size in sizes[self._seen_batches :]:
            self.families.batch_size.observe(size)
        self._seen_batches = len(sizes)
        stats = orch.poll_stats()
        if stats is not None and stats.rounds > self._seen_rounds:
            self._seen_rounds = stats.rounds
            self.families.poll_round.observe(stats.last_round_s)

    def render(self) -> bytes:
        self.sample()
        return generate_latest(self.registry)

    async def refresh_phases(self) -> None:
        """Count the jobs by phase in the read model (one grouped index scan)."""
        if self.orch is not None:
            self.phase_counts = await self.orch.queries.phase_counts()

    async def follow(self, orch: Orchestrator, *, sample_every_s: float = 1.0) -> None:
        """Count decisions as they are committed, until cancelled."""
        families = self.families
        last_rule: dict[str, tuple[str, str]] = {}
        sampler = asyncio.get_running_loop().create_task(self._sample_every(sample_every_s))
        try:
            async for recorded in orch.tail():
                event = recorded.event
                if isinstance(event, JobAccepted):
                    families.submissions.labels("job").inc()
                elif isinstance(event, Submitted):
                    families.submissions.labels("task").inc()
                elif isinstance(event, FailureClassified):
                    last_rule[recorded.stream_id] = (event.classification, event.rule)
                    families.failures.labels(event.classification, event.rule).inc()
                elif isinstance(event, RetryScheduled):
                    classification, rule = last_rule.pop(recorded.stream_id, ("unknown", "unknown"))
                    families.retries.labels(classification, rule).inc()
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)

    async def _sample_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.sample()

    def instrument(self, overlord: Overlord) -> InstrumentedOverlord:
        return InstrumentedOverlord(overlord, self.families)
