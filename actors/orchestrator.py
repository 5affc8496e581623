"""The Orchestrator: the API that embedders, the daemon and the CLI all use. Its parts are
built and wired by `actors.assembly`.

    async with Orchestrator.open(db="orch.db", overlord="http://overlord:8090") as orch:
        job = await orch.submit(compiled_job)        # returns at once; idempotent
        async for update in orch.watch(job.job_id):  # live FSM transitions
            ...
        view = await orch.wait(job.job_id, timeout=3600)

Closing drains in-flight appends and leaves Druid tasks running; the next `open` on the same
log recovers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path
from typing import NoReturn

import msgspec
import structlog

from actors.assembly import Connection, Parts, assembled
from actors.errors import ActorStoppedError, NotRetryableError, UnknownJobError
from actors.job.messages import Accept, Cancel, Retry
from actors.job.state import TERMINAL, JobState
from actors.job.stream import Listener
from actors.job.view import JobUpdate, JobView
from actors.poller import PollerStats
from actors.ports import Clock, Overlord
from actors.queries import JobQueries
from actors.reconcile import ReconcileReport
from actors.settings import OrchestratorConfig
from actors.stream_names import job_stream
from actors.streams.facade import SupervisorView
from actors.supervision.alerts import AlertSink, LogAlertSink
from actors.supervision.supervisor import StartJob
from actors.warm_start import WarmStart
from eventlog.contract import EventLog
from eventlog.errors import EventLogError, StreamArchivedError
from eventlog.records import Recorded, WriterStats, WritesRefused
from eventlog.summaries import MAX_PAGE, SummaryQuery
from overlord.auth import AuthHook
from overlord.tls import ClientSettings
from specs.compiler import CompiledJob

logger = structlog.get_logger("druid_orch.orchestrator")
_job_logger = structlog.get_logger("druid_orch.task")  # job events are logged under this name

__all__ = ["LogHealth", "Orchestrator"]


class LogHealth(msgspec.Struct, frozen=True):
    """Whether the event log takes writes: `failure` when it never will again (its writers
    kept dying), `refused` while commits fail (a full disk, a read-only file)."""

    failure: EventLogError | None
    refused: WritesRefused | None


class Orchestrator:
    """The API embedders, the daemon and the CLI use; `open` builds and runs the parts."""

    def __init__(self, parts: Parts) -> None:
        self.config = parts.config
        self.clock = parts.clock
        self.log = parts.log
        self.streams = parts.streams
        self.breakers = parts.breakers
        self.slots = parts.slots
        self.watermark = parts.watermark
        self.supervisor = parts.supervisor
        self.supervisor_actor = parts.supervisor_actor
        self.poller_actor = parts.poller
        self._board = parts.board
        self._recovery = parts.recovery
        self.states = parts.board.states  # live jobs only: finished ones are in the log's rows
        self.counters = parts.board.counters
        self.queries = JobQueries(parts.log, parts.board)
        # Managed Kafka / Kinesis supervisors (`actors.streams.facade`).
        self.streaming = parts.supervisors

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        db: str | Path | EventLog,
        overlord: str | Overlord,
        *,
        settings: ClientSettings | None = None,
        auth: AuthHook | None = None,
        verify_tls: bool = True,
        ca_bundle: str | None = None,
        config: OrchestratorConfig | None = None,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        alerts: AlertSink | None = None,
        warm: WarmStart | None = None,
    ) -> AsyncIterator[Orchestrator]:
        """Open the log, recover every live job, and yield a running orchestrator.

        An Overlord given as a URL is reached with `settings` (`overlord.ClientSettings`:
        credentials, CA bundle, client certificate for mutual TLS, leader hosts, timeouts),
        as the daemon reaches it with its `[overlord]` keys. `auth`, `verify_tls` and
        `ca_bundle` are shorthands for the settings of the same names, for a program that
        needs only those; passing them beside `settings` is refused. `warm` is an HA
        standby's cache of folds (`actors.warm_start`), taken over where still current.

        Raises:
            LogInUseError: another orchestrator has `db` open.
            ValueError: `settings` and one of its shorthands were both given.
            OverlordConfigError: a CA bundle or client certificate cannot be loaded.
        """
        shorthands = auth is not None or not verify_tls or ca_bundle is not None
        if settings is not None and shorthands:
            raise ValueError("pass auth, verify_tls and ca_bundle inside settings, not beside it")
        if settings is None:
            settings = ClientSettings(auth=auth, verify_tls=verify_tls, ca_bundle=ca_bundle)
        async with assembled(
            db,
            Connection(overlord, settings),
            config=config or OrchestratorConfig(),
            clock=clock,
            rng=rng or random.Random(),
            alerts=alerts or LogAlertSink(),
            warm=warm,
        ) as parts:
            yield cls(parts)

    @property
    def last_reconcile(self) -> ReconcileReport | None:
        return self._recovery.last_report

    async def reconcile(self) -> ReconcileReport:
        """Reconcile every live job with the Overlord now (also runs periodically)."""
        return await self._recovery.reconcile()

    def resume_datasource(self, datasource: str, by: str = "user") -> bool:
        """Close a datasource's breaker after a person has looked. False if it was not open."""
        return self.breakers.resume(datasource, by)

    # --- managed supervisors (Kafka / Kinesis): see actors.streams.facade -----------------

    async def apply_supervisor(self, spec: dict[str, object]) -> SupervisorView:
        """Validate a supervisor spec and make the Overlord hold it; a spec it holds already
        is not sent again. Its id is the spec's `id`, else its dataSource."""
        return await self.streaming.apply(spec)

    async def supervisors(self) -> list[SupervisorView]:
        """Managed supervisors, plus those the Overlord lists unmanaged (`managed=False`)."""
        return await self.streaming.supervisors()

    async def get_supervisor(self, supervisor_id: str) -> SupervisorView:
        return await self.streaming.get(supervisor_id)

    async def suspend_supervisor(
        self, supervisor_id: str, by: str = "user", reason: str = ""
    ) -> SupervisorView:
        return await self.streaming.suspend(supervisor_id, by, reason)

    async def resume_supervisor(
        self, supervisor_id: str, by: str = "user", reason: str = ""
    ) -> SupervisorView:
        return await self.streaming.resume(supervisor_id, by, reason)

    async def terminate_supervisor(
        self, supervisor_id: str, by: str = "user", reason: str = ""
    ) -> SupervisorView:
        return await self.streaming.terminate(supervisor_id, by, reason)

    async def reset_supervisor(self, supervisor_id: str, by: str, reason: str) -> SupervisorView:
        """Reset a supervisor's offsets (data may be skipped or read twice); `by` and `reason`
        are required. Never done by the orchestrator on its own."""
        return await self.streaming.reset(supervisor_id, by, reason)

    async def answer_reset(self, supervisor_id: str, happened: bool, by: str) -> SupervisorView:
        """Say whether a reset whose answer was lost happened (the supervisor asked)."""
        return await self.streaming.answer_reset(supervisor_id, happened, by)

    # --- the embedding API -------------------------------------------------------------

    async def submit(self, job: CompiledJob) -> JobView:
        """Accept a compiled job: returns once its acceptance is recorded, before any attempt.

        Submitting the same job again is a no-op.

        Raises:
            EventLogUnavailableError: the log refused the write (a full disk, a read-only
                file); the job was not accepted, and submitting it again later is safe.
        """
        known = await self.get(job.job_id, missing_ok=True)
        if known is not None:
            return known
        accept = Accept(
            at=self.clock(),
            job_id=job.job_id,
            datasource=job.datasource,
            interval=job.interval,
            spec=job.spec_json,
            spec_hash=job.spec_hash,
            max_attempts=job.max_attempts,
            pipeline=job.pipeline,
            watermark_from=job.watermark_from,
        )
        # Recorded here, not by the job's actor: a caller told "accepted" must find the job
        # after any crash, and one whose acceptance could not be written must be told so.
        recorded = await self.streams.record(job.job_id, accept, state=JobState())
        # None: recorded already, by a racing submit of the same job, or by the attempt whose
        # answer a lost writer took with it; its actor reads what is there.
        accepted = recorded.state if recorded.events else None
        if accepted is not None:
            # The line the job's actor would have written, had it recorded the event.
            _job_logger.info("job_accepted", job_id=job.job_id, phase=accepted.phase)
        ref = await self.supervisor.ask(StartJob(job.job_id, state=accepted), timeout=None)
        if accepted is not None:
            # Not the actor's view: its first turn asks the Overlord (capacity, supervisors,
            # the POST itself), and a slow Overlord must not hold the caller (20 s at 5 s a
            # call); the job's own view is at most that turn ahead of this one.
            return self._board.view(self.states.get(job.job_id, accepted))
        return await self._board.settled(ref, job.job_id)

    async def get(self, job_id: str, *, missing_ok: bool = False) -> JobView | None:
        """The job's current view: a live job's from memory, any other's from its summary
        row (a job ever recorded, finished long ago or in an earlier run)."""
        state = self.states.get(job_id)
        if state is not None:
            return self._board.view(state)
        view = await self.queries.one(job_id)
        if view is None and not missing_ok:
            raise UnknownJobError(job_id)
        return view

    def jobs(self) -> list[JobView]:
        return [self._board.view(s) for s in self.states.values() if s.phase != "new"]

    async def wait(self, job_id: str, *, timeout: float | None = None) -> JobView:
        """Wait until the job is terminal; return its final view."""
        # Waiting first: a job that ends while its row is read still wakes us.
        ended = self._board.terminal_future(job_id)
        try:
            view = await self.get(job_id)
            assert view is not None
            if view.terminal:
                return view
            state = await asyncio.wait_for(ended, timeout)
        finally:
            ended.cancel()
        return self._board.view(state)

    async def watch(self, job_id: str) -> AsyncIterator[JobUpdate]:
        """Every transition of the job from now on, ending after its terminal one."""
        view = await self.get(job_id)
        assert view is not None
        if view.terminal:
            yield JobUpdate(view, [])
            return
        async for update in self._board.updates(job_id):
            yield update

    async def cancel(self, job_id: str, reason: str = "user") -> JobView:
        """Shut the job's Druid task down and end the job as cancelled. Harmless twice.

        Returns once the cancellation is recorded (the shutdown follows).

        Raises:
            EventLogUnavailableError: the log refused the write; nothing was cancelled, and
                cancelling again later is safe.
            ActorStoppedError: the job's actor kept crashing before it could take the cancel
                (each crash is recorded); the same holds.
        """
        view = await self.get(job_id)
        assert view is not None
        if view.terminal:
            return view
        settled = await self._cancel_through_actor(job_id, reason)
        if settled is not None:
            return settled
        return await self._cancel_through_successor(job_id, reason)

    async def _cancel_through_actor(self, job_id: str, reason: str) -> JobView | None:
        """Hand the cancel to the job's actor; None if the actor stopped before taking it
        and the job is still not over."""
        ref = await self.supervisor.ask(StartJob(job_id), timeout=None)
        # An ask, not a tell: a refused write comes back to the caller instead of stopping
        # the job's actor, and a caller told "cancelling" can rely on it.
        try:
            await ref.ask(Cancel(at=self.clock(), reason=reason), timeout=None)
            return await self._board.settled(ref, job_id)
        except ActorStoppedError:
            # The job ended on its own (nothing to cancel), or the actor crashed on an
            # earlier message and the cancel went with it.
            view = await self._board.settled(None, job_id)
            return view if view.terminal else None

    async def _cancel_through_successor(self, job_id: str, reason: str) -> JobView:
        """Start the job's next actor with the cancel as its first message: before the work
        that may have crashed its predecessor, and without waiting out the restart delay."""
        command = Cancel(at=self.clock(), reason=reason)
        ref = await self.supervisor.ask(StartJob(job_id, commands=[command]), timeout=None)
        view = await self._board.settled(ref, job_id)
        if view.phase not in ("cancelling", "cancelled") and not view.terminal:
            raise ActorStoppedError(
                f"job {job_id}'s actor stopped before it could record the cancel; nothing "
                "was cancelled, and cancelling again later is safe"
            )
        return view

    async def retry(self, job_id: str, reason: str = "", by: str = "user") -> JobView:
        """Run a dead or cancelled job again, with a fresh set of attempts.

        Returns once the retry is recorded and the job's actor has taken it up. The next
        attempt has a task id of its own; a job that died while its task may still have run
        looks that task up first (`actors.job.fsm`).

        Raises:
            UnknownJobError: no such job.
            NotRetryableError: the job is live, or succeeded.
            StreamArchivedError: retention archived the job; it cannot run again.
            EventLogUnavailableError: the log refused the write; retrying later is safe.
        """
        retry = Retry(at=self.clock(), reason=reason, by=by)
        recorded = await self.streams.record(job_id, retry, reopen=True)
        if not recorded.events:
            await self._why_not_retryable(job_id, recorded.state)
        new = recorded.state
        logger.info("job_retried", job_id=job_id, phase=new.phase, by=by, reason=reason)
        self.supervisor_actor.forget_crashes(job_id)
        ref = await self.supervisor.ask(StartJob(job_id), timeout=None)
        return await self._board.settled(ref, job_id)

    async def _why_not_retryable(self, job_id: str, state: JobState) -> NoReturn:
        if state.phase != "new":
            raise NotRetryableError(job_id, state.phase)
        archived = await self.log.archived(job_stream(job_id))
        if archived is not None:  # its events are in an archive file now
            raise StreamArchivedError(job_stream(job_id), *archived)
        raise UnknownJobError(job_id)

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` after every transition recorded in a job's stream, once the
        orchestrator's own view has taken it in; returns what stops it."""
        return self.streams.listen(listener)

    async def history(self, job_id: str) -> list[Recorded]:
        """The job's recorded events, oldest first."""
        return await self.streams.history(job_id)

    async def all_jobs(self) -> list[JobView]:
        """Every job the log holds, page by page from the read model: as many as there are,
        so a caller that wants fewer asks `queries.page` with filters instead."""
        views: list[JobView] = []
        page = await self.queries.page(SummaryQuery(limit=MAX_PAGE))
        views += page.jobs
        while page.next is not None:
            page = await self.queries.page(SummaryQuery(limit=MAX_PAGE, after=page.next))
            views += page.jobs
        return views

    async def tail(self) -> AsyncIterator[Recorded]:
        """Every event committed to the log from now on, in order, until it closes."""
        after = await self.log.last_seq()
        async for recorded in self.log.subscribe(after):
            yield recorded

    async def follow(
        self, job_ids: Collection[str] = (), *, after: int | None = None, poll_s: float = 5.0
    ) -> AsyncIterator[JobView]:
        """Each change to the jobs in `job_ids` (every job if empty) recorded after log
        position `after` (None: from now on), as the read model's change feed gives it: one
        read per commit however many jobs are followed, none per job. With `job_ids`, each
        job is yielded as it is first, and the iterator ends once every one is terminal.

        Raises:
            UnknownJobError: a job of `job_ids` was never recorded.
        """
        if after is None:
            # Before the lookups: a change between the two is yielded twice, never missed.
            after = await self.log.last_seq()
        waiting = set(job_ids)
        for job_id in job_ids:
            view = await self.queries.one(job_id)
            if view is None:
                raise UnknownJobError(job_id)
            yield view
            if view.terminal:
                waiting.discard(job_id)
        if job_ids and not waiting:
            return
        while True:
            found = await self.queries.changes(after, limit=MAX_PAGE, wait_s=poll_s)
            after = found.position
            for view in found.jobs:
                if job_ids and view.job_id not in job_ids:
                    continue
                yield view
                if view.terminal:
                    waiting.discard(view.job_id)
            if job_ids and not waiting:
                return

    def log_health(self) -> LogHealth:
        return LogHealth(failure=self.log.write_failure, refused=self.log.writes_refused)

    def write_stats(self) -> WriterStats:
        """The event log's writer statistics since it was opened (live: they keep counting)."""
        return self.log.stats

    def poll_stats(self) -> PollerStats:
        return self.poller_actor.stats

    def live_count(self) -> int:
        return sum(1 for s in self.states.values() if s.phase not in TERMINAL and s.phase != "new")
