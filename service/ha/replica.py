"""One replica of an HA deployment: standby until it takes the lease, then leader until it
loses it or is told to stop (docs/ha.md).

Standby: the API answers `/readyz` with `role: standby`, serves job reads from the shared
read model (`StandbyReads`) and sends the rest of `/v1` to the leader's `api.advertise_url`;
every `lease_s / 4` the replica tries to take the lease. Leader: the log is opened fenced
with the new epoch, the lease is renewed every `lease_s / 3`, and the orchestrator boots as
on SQLite (replay plus reconcile). The replica steps down, back to standby, at its first
refused append (`FencedOffError`), its first failed renewal, or once its own clock says the
lease may have run out (a pause); from then on the Overlord client refuses every call
(`FencedOverlord`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import Any

import structlog
from prometheus_client import Gauge

from actors.orchestrator import Orchestrator
from actors.warm_start import WarmStart, followed
from eventlog.errors import EventLogError
from eventlog.postgres import Fence, FencedOffError, PostgresEventLog, redacted
from eventlog.postgres.lease import Lease
from eventlog.postgres.writer import DRIVER_ERRORS
from overlord.urls import display_url
from service.config import Config
from service.ha.fenced_overlord import FencedOverlord
from service.ha.standby_reads import Replication, StandbyReads
from service.retention import retention_loop

logger = structlog.get_logger("druid_orch.ha")
_DB_ERRORS = DRIVER_ERRORS


class Replica:
    """Runs the daemon's orchestrator only while this replica holds the lease."""

    def __init__(self, daemon: Any, config: Config, client: Any) -> None:
        self.daemon = daemon
        self.config = config
        self.client = client
        section = config.eventlog
        assert section.url is not None
        self.url = section.url
        self.where = redacted(section.url)
        self.password = section.password.reveal() if section.password is not None else None
        self.lease_s = section.lease_s
        # The lease holder's name: its advertised URL, unique to each replica by its purpose.
        self.name = config.api.advertise_url or f"{socket.gethostname()}:{config.api.port}"
        self.deadline = 0.0  # monotonic time until which the lease surely holds
        self.epoch = 0
        self.reads: PostgresEventLog | None = None
        # The live jobs folded as the leader records them (`actors.warm_start`), while another
        # replica leads and `eventlog.warm_standby` is on.
        self.warm: WarmStart | None = None
        self.warming: asyncio.Task[None] | None = None
        self.ha = daemon.api.ha = Replication()
        registry = daemon.metrics.registry
        self.leader_gauge = Gauge(
            "druid_orch_leader",
            "1 if this replica leads, 0 if it stands by",
            ["instance"],
            registry=registry,
        )
        self.epoch_gauge = Gauge(
            "druid_orch_leader_epoch",
            "The epoch of the lease this replica last held or saw",
            registry=registry,
        )

    def leading(self) -> bool:
        return time.monotonic() < self.deadline

    async def run(self) -> int:
        lease = Lease(self.url, password=self.password)
        try:
            while not self.daemon.stop.is_set():
                epoch = await self._stand_by(lease)
                if epoch is None:
                    break
                await self._lead(lease, epoch)
        finally:
            await self._stop_warming()
            await lease.close()
            if self.reads is not None:
                self.ha.reads = None
                await self.reads.close()
        return 0

    async def _open_reads(self) -> None:
        """The log a standby serves job reads from (never appended to), opened once."""
        if self.reads is None:
            self.reads = await PostgresEventLog.open(self.url, password=self.password, readers=2)
            self.ha.reads = StandbyReads(self.reads)

    def _start_warming(self) -> None:
        """Follow the log into a fresh cache, once another replica is seen to lead."""
        if self.warming is None and self.reads is not None and self.config.eventlog.warm_standby:
            self.warm = WarmStart()
            self.warming = asyncio.get_running_loop().create_task(
                followed(self.reads, self.warm, self._primed), name="warm-standby"
            )

    def _primed(self, warm: WarmStart) -> None:
        self.daemon._say(f"standby: following the log, {len(warm.jobs)} live jobs folded")

    async def _stop_warming(self) -> None:
        if self.warming is not None:
            self.warming.cancel()
            await asyncio.gather(self.warming, return_exceptions=True)
            self.warming = None

    async def _take_warm(self) -> WarmStart | None:
        """The cache to boot from, caught up with the log's tail (None: fold every stream).

        Called with the lease held: whatever committed before it is read here, and nothing a
        deposed leader tries later can commit (its epoch is refused), so the tail is complete;
        the boot checks every state's version against the log all the same.
        """
        await self._stop_warming()
        warm, self.warm = self.warm, None
        if warm is None or not warm.primed or self.reads is None:
            return None
        started = time.monotonic()
        try:
            tail = await warm.catch_up(self.reads)
        except (EventLogError, *DRIVER_ERRORS) as exc:
            logger.warning("warm_catch_up_failed", error=str(exc))
            return None
        seconds = time.monotonic() - started
        logger.info("warm_caught_up", events=tail, live_jobs=len(warm.jobs), seconds=seconds)
        self.daemon._say(
            f"leader: {len(warm.jobs)} live jobs kept warm, a tail of {tail} events replayed "
            f"in {seconds:.2f} s"
        )
        return warm

    def _role(self, role: str) -> None:
        self.ha.role = role
        self.daemon.notify.ready(f"{role} (epoch {self.epoch})")  # systemd: serving either way
        self.leader_gauge.labels(instance=self.name).set(1 if role == "leader" else 0)
        self.epoch_gauge.set(self.epoch)

    async def _stand_by(self, lease: Lease) -> int | None:
        """Wait as a standby until the lease is ours (its epoch) or the daemon stops (None)."""
        self._role("standby")
        announced: str | None = "?"
        prepared = False
        while not self.daemon.stop.is_set():
            started = time.monotonic()
            try:
                if not prepared:
                    await lease.prepare()
                    await self._open_reads()
                    prepared = True
                epoch = await lease.acquire(self.name, self.lease_s, self.config.api.advertise_url)
                if epoch is not None:
                    self.deadline = started + self.lease_s
                    self.epoch = epoch
                    return epoch
                leader = await lease.leader()
                self._start_warming()
                self.ha.leader_url = leader.advertise_url
                self.epoch = leader.epoch
                self.epoch_gauge.set(leader.epoch)
                if leader.holder != announced:
                    announced = leader.holder
                    self.daemon._say(
                        f"standby: {leader.holder} leads (epoch {leader.epoch}, "
                        f"{leader.advertise_url or 'no advertised URL'})"
                    )
            except _DB_ERRORS as exc:
                logger.warning("lease_unreachable", db=self.where, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.daemon.stop.wait(), self.lease_s / 4)
        return None

    async def _renew(self, lease: Lease, lost: asyncio.Event) -> None:
        while not lost.is_set():
            left = self.deadline - time.monotonic()
            await asyncio.sleep(max(0.0, min(self.lease_s / 3, left)))
            if not self.leading():
                lost.set()
                return
            started = time.monotonic()
            try:
                ok = await asyncio.wait_for(
                    lease.renew(self.name, self.epoch, self.lease_s),
                    max(0.1, self.deadline - started),
                )
            except _DB_ERRORS as exc:
                logger.warning("lease_renewal_failed", db=self.where, error=str(exc))
                continue  # tried again until the deadline passes
            if not ok:
                lost.set()
                return
            self.deadline = started + self.lease_s

    def _retention(self, log: PostgresEventLog) -> asyncio.Task[None] | None:
        """The leader's retention loop (only a leader archives: the fence holds for it too)."""
        section = self.config.eventlog.retention
        if not section.enabled:
            logger.warning(
                "retention_disabled",
                note="eventlog.retention.enabled = false: the event log grows for ever",
            )
            return None
        if section.directory is None:
            logger.warning(
                "retention_disabled",
                note="eventlog.retention.directory is not set: on PostgreSQL archives need a "
                "folder of their own (shared by the replicas); the event log grows for ever",
            )
            return None
        return asyncio.get_running_loop().create_task(
            retention_loop(log, self.url, section), name="retention"
        )

    async def _lead(self, lease: Lease, epoch: int) -> None:
        lost = asyncio.Event()
        daemon, config = self.daemon, self.config

        def fenced(exc: FencedOffError) -> None:
            logger.error("fenced_off", epoch=epoch, error=str(exc))
            self.deadline = 0.0
            lost.set()

        try:
            log = await PostgresEventLog.open(self.url, password=self.password)
        except (EventLogError, *DRIVER_ERRORS) as exc:
            # The database went away between the lease and the log: stand by again.
            logger.warning("leading_failed", epoch=epoch, error=str(exc))
            with contextlib.suppress(*_DB_ERRORS):
                await lease.release(self.name, epoch)
            self.deadline = 0.0
            return
        renewer = asyncio.get_running_loop().create_task(self._renew(lease, lost), name="lease")
        log.fence(Fence(self.name, epoch), fenced)
        logger.info("leading", epoch=epoch, instance=self.name, db=self.where)
        daemon._say(f"leader: took the lease (epoch {epoch}); booting")
        warm = await self._take_warm()  # the lease is renewed meanwhile
        try:
            async with Orchestrator.open(
                log,
                FencedOverlord(daemon.metrics.instrument(self.client), self.leading),
                config=config.orchestrator,
                alerts=_alerts(config),
                warm=warm,
            ) as orch:
                warm = None  # the board has the states now; the cache's memory goes
                daemon.metrics.bind(orch, http_requests=lambda: self.client.requests)
                daemon.api.serve(orch)
                self.ha.leader_url = config.api.advertise_url
                self._role("leader")
                follower = asyncio.get_running_loop().create_task(
                    daemon.metrics.follow(orch), name="metrics-follower"
                )
                keeper = self._retention(log)
                logger.info(
                    "daemon_ready",
                    db=self.where,
                    overlord=display_url(config.overlord.url),
                    live_jobs=orch.live_count(),
                    epoch=epoch,
                )
                daemon._say(f"ready (leader, epoch {epoch})")
                stop = asyncio.ensure_future(daemon.stop.wait())
                gone = asyncio.ensure_future(lost.wait())
                try:
                    await asyncio.wait([stop, gone], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stop.cancel()
                    gone.cancel()
                    follower.cancel()
                    if keeper is not None:
                        keeper.cancel()
                    await asyncio.gather(
                        follower, stop, gone, *([keeper] if keeper else []), return_exceptions=True
                    )
                    daemon.api.orch = None
                    if lost.is_set():
                        self._role("standby")
                        daemon._say(f"lost the lease (epoch {epoch}): standing by")
        except Exception as exc:  # a deposed leader's shutdown meets refused appends
            if not lost.is_set():
                raise
            logger.warning("stepped_down", epoch=epoch, error=repr(exc))
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            await log.close()
            if not lost.is_set():
                with contextlib.suppress(*_DB_ERRORS):
                    await lease.release(self.name, epoch)
            self.deadline = 0.0


def _alerts(config: Config) -> Any:
    from service.daemon import alert_sink

    return alert_sink(config)
