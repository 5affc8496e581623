"""The composition root: builds the orchestrator's parts, wires them, starts and stops them.

Every part gets what it needs through its constructor, here and nowhere else: the event log
and the job streams on it, the Overlord client behind the breakers, the slot gate, the
poller, the supervisor with the context its job actors share, the reconciler, and the board
that keeps every job's state. `Orchestrator.open` is the way in.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actors.board import JobBoard
from actors.job.actor import JobContext
from actors.job.stream import JobStreams
from actors.ownership import owning
from actors.poller import StatusPoller
from actors.ports import Clock, Overlord
from actors.reconcile import Reconciler
from actors.recovery import Recovery
from actors.runtime import ActorRef, spawn
from actors.settings import OrchestratorConfig
from actors.streams.actor import SupervisorContext
from actors.streams.directory import SupervisorDirectory
from actors.streams.facade import SupervisorFacade
from actors.streams.health import HealthWatcher
from actors.streams.manager import SupervisorManager
from actors.streams.stream import SupervisorStreams
from actors.supervision.alerts import AlertSink
from actors.supervision.breakers import Admission, Breakers, GuardedOverlord
from actors.supervision.classification import load_rules
from actors.supervision.slots import SlotBudget
from actors.supervision.supervisor import Supervisor
from actors.supervision.watermark_gate import WatermarkGate
from actors.warm_start import WarmStart
from eventlog import EventLog
from eventlog.sqlite import SQLiteEventLog
from overlord.client import HttpOverlord, RequestRetryPolicy
from overlord.tls import ClientSettings


@dataclass(frozen=True, slots=True)
class Parts:
    """A running orchestrator's parts, as the facade uses them."""

    config: OrchestratorConfig
    clock: Clock
    log: EventLog
    streams: JobStreams
    breakers: Breakers
    slots: SlotBudget
    board: JobBoard
    poller: StatusPoller
    supervisor: ActorRef[Any]
    supervisor_actor: Supervisor
    recovery: Recovery
    # The Overlord's supervisors, one cached bulk read shared by everything streaming.
    directory: SupervisorDirectory
    # Managed Kafka / Kinesis supervisors: their actors, health watcher and facade.
    supervisors: SupervisorFacade
    # Holds and clips batch jobs at the streaming watermark of their datasource.
    watermark: WatermarkGate | None = None


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the Overlord is, and how to reach it when given as a URL."""

    overlord: str | Overlord
    settings: ClientSettings = ClientSettings()


@contextlib.asynccontextmanager
async def assembled(
    db: str | Path | EventLog,
    connection: Connection,
    *,
    config: OrchestratorConfig,
    clock: Clock,
    rng: random.Random,
    alerts: AlertSink,
    warm: WarmStart | None = None,
) -> AsyncIterator[Parts]:
    """Open the log, build and start every part, recover every live job, and yield the parts;
    on the way out, stop them and close what was opened here.

    `db` is a SQLite file, or a log the caller opened (PostgreSQL, fenced: docs/ha.md),
    which the caller closes. `warm` is what a standby folded while it followed the log:
    the boot takes each state from it whose version is the log's (`actors.warm_start`).

    Raises:
        LogInUseError: another orchestrator has `db` open.
    """
    given = db if not isinstance(db, str | Path) else None
    path = db if isinstance(db, str | Path) else ""
    with owning(path) if given is None else contextlib.nullcontext():
        rules = load_rules(config.rules_path)
        event_log = given or await SQLiteEventLog.open(
            path,
            synchronous=config.synchronous,
            writer=config.eventlog_writer,
            max_size_bytes=config.eventlog_max_size_bytes,
        )
        owned_client = _client(connection, config)
        client = owned_client or connection.overlord
        assert not isinstance(client, str)
        try:
            async with asyncio.TaskGroup() as tg:
                streams = JobStreams(event_log)
                breakers = Breakers(
                    event_log,
                    clock,
                    policy=config.breaker,
                    datasource_policy=config.datasource_breaker,
                )
                overlord = GuardedOverlord(client, breakers)
                slots = SlotBudget(overlord, clock, config.slots)
                directory = SupervisorDirectory(overlord, clock)
                watermark = WatermarkGate(overlord, directory, clock, config.watermark)
                board = JobBoard(streams, breakers, slots, alerts, watermark)
                streams.listen(board.take)
                poller = StatusPoller(overlord, config=config.poller, clock=clock, rng=rng)
                ctx = JobContext(
                    log=event_log,
                    streams=streams,
                    overlord=overlord,
                    poller=await spawn(tg, poller, name="poller"),
                    rules=rules,
                    policy=config.job,
                    clock=clock,
                    rng=rng,
                    gate=Admission(breakers, slots, watermark),
                )
                supervisor_actor = Supervisor(ctx, tg, config.restart)
                supervisor = await spawn(tg, supervisor_actor, name="supervisor")
                reconciler = Reconciler(
                    event_log,
                    overlord,
                    clock=clock,
                    prefix=config.task_id_prefix,
                    orphans=config.orphans,
                )
                recovery = Recovery(
                    streams,
                    board,
                    reconciler,
                    supervisor,
                    slots,
                    clock=clock,
                    concurrency=config.recovery_concurrency,
                    warm=warm,
                )
                streaming = SupervisorContext(
                    streams=SupervisorStreams(event_log),
                    overlord=overlord,
                    rules=rules.supervisor,
                    task_rules=rules,
                    alerts=alerts,
                    clock=clock,
                    rng=rng,
                )
                manager = SupervisorManager(streaming, tg, directory, config.restart)
                watcher = HealthWatcher(manager, config.streams)
                parts = Parts(
                    config=config,
                    clock=clock,
                    log=event_log,
                    streams=streams,
                    breakers=breakers,
                    slots=slots,
                    board=board,
                    poller=poller,
                    supervisor=supervisor,
                    supervisor_actor=supervisor_actor,
                    recovery=recovery,
                    directory=directory,
                    supervisors=SupervisorFacade(manager, watcher),
                    watermark=watermark,
                )
                await breakers.restore(warm)
                await recovery.boot()
                await manager.boot()
                periodic: list[asyncio.Task[None]] = [
                    tg.create_task(watcher.every(), name="supervisor-health")
                ]
                if config.reconcile_interval_s:
                    periodic.append(
                        tg.create_task(
                            recovery.reconcile_every(config.reconcile_interval_s),
                            name="reconciler",
                        )
                    )
                try:
                    yield parts
                finally:
                    await _stop(parts, periodic)
        finally:
            await alerts.aclose()
            if owned_client is not None:
                await owned_client.close()
            if given is None:
                await event_log.close()


def _client(connection: Connection, config: OrchestratorConfig) -> HttpOverlord | None:
    """An HTTP client of our own when the Overlord is given as a URL (closed with the rest)."""
    if not isinstance(connection.overlord, str):
        return None
    # Few client-level retries: the poller, the actors and the breaker retry with their own
    # backoff, and stacked retries would hide an outage from the breaker.
    return HttpOverlord.from_settings(
        connection.overlord,
        connection.settings,
        retry=RequestRetryPolicy(attempts=config.client_attempts),
    )


async def _stop(parts: Parts, periodic: list[asyncio.Task[None]]) -> None:
    for task in periodic:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await parts.supervisors.manager.stop()
    parts.board.close()
    parts.supervisor.stop()
    await parts.supervisor.join()
    parts.poller.ref.stop()
    await parts.poller.ref.join()
    await parts.breakers.flush()
