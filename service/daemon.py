"""`druid-orch run --config orch.toml`: the orchestrator as a long-running service.

Start-up order: the control API first (so `/healthz` answers and `/readyz` says "booting"
during a long recovery), then the orchestrator (fold the log, reconcile with the Overlord,
resume every live job), then `/readyz` turns ready.

Shutdown (SIGTERM or SIGINT): stop accepting work (`/v1` mutations and `/readyz` answer
503), stop the actors and poller, drain every in-flight append into the log, close, exit 0.
Druid tasks keep running; the next start recovers them. A second signal exits at once with
128 + the signal number: that is safe, because nothing is acted upon before it is in the log,
so the next start resumes from whatever the log holds. `daemon.shutdown_timeout_s` bounds the
graceful path the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from typing import TextIO

import structlog

from actors.orchestrator import Orchestrator
from actors.ownership import owning
from actors.supervision.alerts import AlertSink, FanOutAlertSink, LogAlertSink, WebhookAlertSink
from overlord.auth import AuthHook, BasicAuth, BearerAuth
from overlord.client import HttpOverlord
from overlord.tls import ClientSettings
from overlord.urls import display_url
from service.api import ControlApi
from service.config import Config
from service.metrics import Metrics
from service.notify import SystemdNotifier
from service.retention import retention_loop
from service.telemetry.tracing import Tracing, traced

logger = structlog.get_logger("druid_orch.daemon")


def overlord_auth(config: Config) -> AuthHook | None:
    """The Overlord credentials of `config` as an auth hook (None: security is off)."""
    section = config.overlord
    if section.token is not None:
        return BearerAuth(section.token.reveal())
    if section.user is not None:
        password = section.password.reveal() if section.password is not None else ""
        return BasicAuth(section.user, password)
    return None


def overlord_settings(config: Config) -> ClientSettings:
    """How `[overlord]` says to reach the Overlord (what `Orchestrator.open` takes too)."""
    section = config.overlord
    return ClientSettings(
        auth=overlord_auth(config),
        coordinator_url=section.coordinator_url,
        timeout_s=section.timeout_s,
        verify_tls=section.verify_tls,
        ca_bundle=section.ca_bundle,
        client_cert=section.client_cert,
        client_key=section.client_key,
        leader_hosts=tuple(section.leader_hosts),
    )


def overlord_client(config: Config) -> HttpOverlord:
    return HttpOverlord.from_settings(config.overlord.url, overlord_settings(config))


def ready_line(orch: Orchestrator) -> str:
    """`ready`, or `ready (Overlord unreachable: cannot connect to ...)`: the daemon is up
    either way, and the person starting it should know which."""
    from actors.supervision.breakers import plain_cause

    health = orch.breakers.overlord_health()
    if health["reachable"] is False and health["last_error"]:
        return f"ready (Overlord unreachable: {plain_cause(health['last_error'])})"
    return "ready"


def alert_sink(config: Config) -> AlertSink:
    """Alerts always go to the log; to a webhook too when one is configured."""
    section = config.alerts
    if section.webhook_url is None:
        return LogAlertSink()
    headers = dict(section.webhook_headers)
    if section.webhook_token is not None:
        headers["Authorization"] = f"Bearer {section.webhook_token.reveal()}"
    return FanOutAlertSink(LogAlertSink(), WebhookAlertSink(section.webhook_url, headers=headers))


class Daemon:
    """One run of the service: API, orchestrator and signal handling."""

    def __init__(self, config: Config, *, out: TextIO = sys.stdout) -> None:
        self.config = config
        self.out = out
        self.metrics = Metrics()
        token = config.api.token.reveal() if config.api.token is not None else None
        self.api = ControlApi(
            token=token,
            metrics=self.metrics,
            limits=config.limits,
            unix_socket=config.api.unix_socket,
            console_url=config.overlord.console_url,
        )
        self.stop = asyncio.Event()
        self.signals = 0
        self.notify = SystemdNotifier.from_env()  # a no-op unless systemd runs us

    def _on_signal(self, signum: int) -> None:
        self.signals += 1
        name = signal.Signals(signum).name
        if self.signals > 1:
            logger.warning("shutdown_forced", signal=name)
            self._exit_now(128 + signum)
        logger.warning(
            "shutdown_started", signal=name, timeout_s=self.config.daemon.shutdown_timeout_s
        )
        self._say(f"{name}: shutting down (send it again to exit at once)")
        self.notify.stopping()
        self.api.drain()
        self.stop.set()
        asyncio.get_running_loop().call_later(
            self.config.daemon.shutdown_timeout_s, self._timed_out
        )

    def _timed_out(self) -> None:
        logger.error("shutdown_timed_out", timeout_s=self.config.daemon.shutdown_timeout_s)
        self._exit_now(1)

    def _exit_now(self, code: int) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        watchdog = self.notify.start_watchdog()  # from the start: boot may take a while
        try:
            return await self._serve()
        finally:
            if watchdog is not None:
                watchdog.cancel()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def _serve(self) -> int:
        config = self.config
        runner = None
        if config.eventlog.url is None:
            # A second daemon on the log is refused before it says anything of an API it
            # would not serve (Orchestrator.open takes the lock for good below).
            with owning(config.eventlog.db):
                pass
        tracing = Tracing.start(config.tracing) if config.tracing.enabled else None
        if config.api.enabled:
            runner, url = await self.api.start(config.api.host, config.api.port)
            self._say(f"control API listening on {url}")
            logger.info("api_listening", url=url, unix_socket=config.api.unix_socket)
        client = overlord_client(config)
        standalone = config.eventlog.url is None
        try:
            if standalone:
                await self._run_alone(client, tracing)
            else:  # high availability on PostgreSQL (docs/ha.md)
                from service.ha import Replica

                await Replica(self, config, client).run()
        finally:
            if tracing is not None:
                await tracing.aclose()
            await client.close()
            if runner is not None:
                await runner.cleanup()
        if standalone:
            logger.info("daemon_stopped")
        self._say("stopped")
        return 0

    async def _run_alone(self, client: HttpOverlord, tracing: Tracing | None) -> None:
        """The one daemon on its SQLite file: open the orchestrator, serve until told to stop."""
        config = self.config
        async with Orchestrator.open(
            config.eventlog.db,
            traced(tracing, self.metrics.instrument(client)),
            config=config.orchestrator,
            alerts=alert_sink(config),
        ) as orch:
            self.metrics.bind(orch, http_requests=lambda: client.requests)
            self.api.serve(orch)
            if tracing is not None:
                tracing.bind(orch)
            follower = asyncio.get_running_loop().create_task(
                self.metrics.follow(orch), name="metrics-follower"
            )
            retention = config.eventlog.retention
            keeper: asyncio.Task[None] | None = None
            if retention.enabled:
                keeper = asyncio.get_running_loop().create_task(
                    retention_loop(orch.log, config.eventlog.db, retention), name="retention"
                )
            else:
                logger.warning(
                    "retention_disabled",
                    note="eventlog.retention.enabled = false: the event log grows for ever",
                )
            report = orch.last_reconcile
            logger.info(
                "daemon_ready",
                db=config.eventlog.db,
                overlord=display_url(config.overlord.url),
                live_jobs=orch.live_count(),
                reconcile_error=report.error if report else None,
            )
            self._say(ready_line(orch))
            self.notify.ready(f"ready: {orch.live_count()} live jobs")
            try:
                await self.stop.wait()
            finally:
                self.api.drain()
                follower.cancel()
                if keeper is not None:
                    keeper.cancel()
                await asyncio.gather(
                    follower, *([keeper] if keeper else []), return_exceptions=True
                )
            logger.info("draining", live_jobs=orch.live_count())

    def _say(self, line: str) -> None:
        """A plain line on stdout for people and scripts (logs go to stderr). With no reader
        left (a closed pipe, a terminal gone) the daemon goes on: a shutdown must not stop at
        the line that announces it."""
        try:
            self.out.write(f"druid-orch: {line}\n")
            self.out.flush()
        except (OSError, ValueError):
            logger.info("stdout_unwritable", line=line)


async def run_daemon(config: Config, *, out: TextIO = sys.stdout) -> int:
    return await Daemon(config, out=out).run()
