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
from urllib.parse import urlsplit

import aiohttp
import msgspec
import structlog

logger = structlog.get_logger("druid_orch.alerts")


def display_webhook(url: str) -> str:
    """A webhook URL safe to log or show: its origin only.

    Chat webhooks (Slack, Teams, Mattermost) carry their secret in the path, and any URL may
    carry user info, so neither is shown.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<an unparseable URL>"
    if not parts.scheme or not host:
        return "<an unparseable URL>"
    rest = "/***" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{host}{port}{rest}"


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
        logger.error("job_alert", **msgspec.structs.asdict(alert))

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
                # aiohttp quotes the whole URL in some errors (InvalidURL): never its path.
                problem = f"{type(exc).__name__}: {exc}".replace(
                    self.url, display_webhook(self.url)
                )
            if attempt + 1 < self.attempts:
                await asyncio.sleep(rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt)))
        self.failed += 1
        logger.error(
            "alert_webhook_failed",
            job_id=alert.job_id,
            error=problem,
            url=display_webhook(self.url),
        )

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
