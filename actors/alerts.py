"""Alerts: a person must look at a job. Pluggable sinks; a structured log line always.

An alert carries what the on-call engineer needs without opening the orchestrator: job,
datasource, interval, Druid task id, classification, the rule that decided, and an excerpt of
the report. The webhook sink POSTs the same JSON and retries with backoff; it never blocks
the actor that raised the alert.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Protocol

import aiohttp
import msgspec
import structlog

log = structlog.get_logger("druid_orch.alerts")


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    datasource: str
    interval: str
    task_id: str | None
    classification: str | None
    rule: str | None
    reason: str
    report_excerpt: dict[str, Any] | None = None
    at: float


class AlertSink(Protocol):
    def raise_alert(self, alert: Alert) -> None: ...

    async def aclose(self) -> None: ...


class LogAlertSink:
    """Writes every alert as one structured `job_alert` log line (level error)."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []

    def raise_alert(self, alert: Alert) -> None:
        self.sent.append(alert)
        log.error("job_alert", **msgspec.structs.asdict(alert))

    async def aclose(self) -> None:
        return None


class WebhookAlertSink:
    """POSTs each alert as JSON to a URL, retrying with full-jitter backoff, in the background."""

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 5,
        base_s: float = 0.5,
        cap_s: float = 30.0,
        headers: dict[str, str] | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.attempts = attempts
        self.base_s = base_s
        self.cap_s = cap_s
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failed = 0

    def raise_alert(self, alert: Alert) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(alert))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, alert: Alert) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        body = msgspec.json.encode(alert)
        rng = random.Random()
        for attempt in range(self.attempts):
            try:
                async with self._session.post(self.url, data=body, headers=self._headers) as r:
                    if r.status < 400:
                        self.delivered += 1
                        return
                    problem = f"HTTP {r.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt + 1 < self.attempts:
                await asyncio.sleep(rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt)))
        self.failed += 1
        log.error("alert_webhook_failed", job_id=alert.job_id, error=problem, url=self.url)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._session is not None:
            await self._session.close()


class FanOutAlertSink:
    def __init__(self, *sinks: AlertSink) -> None:
        self.sinks = sinks

    def raise_alert(self, alert: Alert) -> None:
        for sink in self.sinks:
            sink.raise_alert(alert)

    async def aclose(self) -> None:
        for sink in self.sinks:
            await sink.aclose()
