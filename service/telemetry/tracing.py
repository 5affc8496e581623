"""OpenTelemetry traces, the `otel` extra (`pip install 'druid-orchestrator[otel]'`):

    druid.attempt      one span per attempt of a job: from the Druid task's submission to its
                       outcome, with `druid.task_id`, the job id and the attempt number; a
                       failed attempt carries its classification and the rule that matched
    overlord.<call>    one span per Overlord call (`overlord.submit`, `overlord.bulk_status`...)

exported over OTLP/HTTP to `tracing.endpoint` (or where the standard `OTEL_EXPORTER_OTLP_*`
variables say). Attempt spans are built from the event log as it is committed, with the
times the events carry, so they cost the actors nothing; an attempt already running when
the daemon starts gets no span.

Off by default, and then import-free: the daemon imports this module only when
`tracing.enabled` is true, and OpenTelemetry is imported in `Tracing.start`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, cast

from actors.errors import ConfigError
from actors.orchestrator import Orchestrator
from actors.ports import Overlord
from actors.stream_names import JOB_PREFIX, job_of_stream
from eventlog.events import (
    FailureClassified,
    JobCancelled,
    JobDied,
    Submitted,
    TaskFailed,
    TaskSucceeded,
)
from service.telemetry import TracingSection

# Overlord calls whose first argument is a Druid task id.
TASK_CALLS = frozenset({"status", "shutdown", "reports", "task_spec", "log"})


def _ns(at: float) -> int:
    return int(at * 1_000_000_000)


class Tracing:
    """A tracer provider and the spans open for attempts in flight."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("druid_orch")
        self._attempts: dict[str, Any] = {}
        self._follower: asyncio.Task[None] | None = None

    @classmethod
    def start(cls, section: TracingSection, exporter: Any = None) -> Tracing:
        """Tracing as `section` configures it (`exporter`: instead of OTLP, for tests).

        Raises:
            ConfigError: the `otel` extra is not installed.
        """
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise ConfigError(
                "tracing.enabled = true needs the otel extra: "
                f"pip install 'druid-orchestrator[otel]' ({exc.name} is missing)"
            ) from None
        resource = Resource.create({"service.name": section.service_name})
        provider = TracerProvider(resource=resource)
        if exporter is None:
            exporter = (
                OTLPSpanExporter(endpoint=section.endpoint)
                if section.endpoint
                else (OTLPSpanExporter())
            )
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    def wrap(self, overlord: Overlord) -> Overlord:
        """`overlord` with a span around each call."""
        return cast(Overlord, _TracedOverlord(overlord, self.tracer))

    def bind(self, orch: Orchestrator) -> None:
        """Follow `orch`'s event log from now on (until `aclose`)."""
        self._follower = asyncio.get_running_loop().create_task(self.follow(orch), name="tracing")

    async def aclose(self) -> None:
        """Stop following, end open attempts and export what is buffered."""
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        await asyncio.to_thread(self.close)

    async def follow(self, orch: Orchestrator) -> None:
        """Turn attempts into spans as their events are committed, until cancelled."""
        async for recorded in orch.tail():
            if recorded.stream_id.startswith(JOB_PREFIX):
                self.observe(job_of_stream(recorded.stream_id), recorded.event)

    def observe(self, job_id: str, event: object) -> None:
        """One committed event of job `job_id`."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        if isinstance(event, Submitted):
            self._end(job_id, None, None)  # an attempt without a recorded outcome
            self._attempts[job_id] = self.tracer.start_span(
                "druid.attempt",
                kind=SpanKind.INTERNAL,
                start_time=_ns(event.at),
                attributes={
                    "druid.task_id": event.task_id,
                    "druid_orch.job_id": job_id,
                    "druid_orch.attempt": event.attempt,
                    "druid_orch.adopted": event.adopted,
                },
            )
        elif isinstance(event, TaskSucceeded):
            self._end(job_id, event.at, Status(StatusCode.OK))
        elif isinstance(event, TaskFailed):
            span = self._attempts.get(job_id)
            if span is not None:
                span.set_attribute("druid.error", (event.error_msg or "")[:500])
                span.set_attribute("druid_orch.failure_source", event.source)
        elif isinstance(event, FailureClassified):
            span = self._attempts.get(job_id)
            if span is not None:
                span.set_attribute("druid_orch.classification", event.classification)
                span.set_attribute("druid_orch.rule", event.rule)
            self._end(job_id, event.at, Status(StatusCode.ERROR, event.reason[:200]))
        elif isinstance(event, JobCancelled | JobDied):
            self._end(job_id, event.at, Status(StatusCode.ERROR, type(event).__name__))

    def _end(self, job_id: str, at: float | None, status: Any) -> None:
        span = self._attempts.pop(job_id, None)
        if span is None:
            return
        if status is not None:
            span.set_status(status)
        span.end(end_time=_ns(at) if at is not None else None)

    def close(self) -> None:
        """End the attempts still open and export what is buffered (blocking)."""
        for job_id in list(self._attempts):
            self._end(job_id, None, None)
        self.provider.shutdown()


def traced(tracing: Tracing | None, overlord: Overlord) -> Overlord:
    """`overlord`, inside spans when tracing is on."""
    return overlord if tracing is None else tracing.wrap(overlord)


class _TracedOverlord:
    """Every coroutine method of the wrapped `Overlord` inside an `overlord.<name>` span."""

    def __init__(self, inner: Overlord, tracer: Any) -> None:
        self._inner = inner
        self._tracer = tracer

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        return self._traced(name, attr)

    def _traced(self, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        from opentelemetry.trace import SpanKind

        async def traced(*args: Any, **kwargs: Any) -> Any:
            with self._tracer.start_as_current_span(
                f"overlord.{name}", kind=SpanKind.CLIENT
            ) as span:
                if name in TASK_CALLS and args and isinstance(args[0], str):
                    span.set_attribute("druid.task_id", args[0])
                result = await call(*args, **kwargs)
                if name == "submit" and isinstance(result, str):
                    span.set_attribute("druid.task_id", result)
                return result

        return traced
