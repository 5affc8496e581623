"""The Orchestrator: the one object that wires the event log, the Overlord client, the poller
and the supervisor, and the API that embedders, the daemon and the CLI all use.

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
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import msgspec
import structlog

from actors.errors import ActorStoppedError, NotRetryableError, UnknownJobError
from actors.job.actor import GetState, JobContext, JobPolicy
from actors.job.fsm import TERMINAL, Accept, Cancel, Command, JobState, Retry, fold
from actors.job.stream import JobStreams, Listener, Transition
from actors.job.view import JobUpdate, JobView, hold_reason
from actors.ownership import owning
from actors.poller import PollerConfig, PollerStats, StatusPoller
from actors.ports import Clock, Overlord
from actors.reconcile import OrphanPolicy, Reconciler, ReconcileReport
from actors.runtime import ActorRef, spawn
from actors.stream_names import JOB_PREFIX, job_of_stream, job_stream
from actors.supervision.alerts import Alert, AlertSink, LogAlertSink
from actors.supervision.breakers import Breakers, DatasourcePolicy, GuardedOverlord
from actors.supervision.classification import RuleSet, load_rules
from actors.supervision.policy import BreakerPolicy, RestartPolicy
from actors.supervision.slots import SlotBudget, SlotPolicy
from actors.supervision.supervisor import StartJob, Supervisor
from eventlog.errors import (
    EventLogError,
    EventLogUnavailableError,
    StreamArchivedError,
    WriterLostError,
)
from eventlog.events import FailureClassified, JobDied
from eventlog.records import WriterStats, WritesRefused
from eventlog.sqlite.store import EventLog, Recorded, Synchronous, WriterMode
from overlord.auth import AuthHook
from overlord.client import HttpOverlord, RequestRetryPolicy
from overlord.errors import OverlordError
from specs.compiler import CompiledJob

logger = structlog.get_logger("druid_orch.orchestrator")
_job_logger = structlog.get_logger("druid_orch.task")  # job events are logged under this name

# JobView and JobUpdate are part of this module's API (they used to live here).
__all__ = ["JobUpdate", "JobView", "LogHealth", "Orchestrator", "OrchestratorConfig"]


class OrchestratorConfig(msgspec.Struct, frozen=True, kw_only=True):
    poller: PollerConfig = PollerConfig()
    job: JobPolicy = JobPolicy()
    restart: RestartPolicy = RestartPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    datasource_breaker: DatasourcePolicy = DatasourcePolicy()
    # Admission of parallel jobs within the cluster's worker slots (`actors.supervision.slots`).
    slots: SlotPolicy = SlotPolicy()
    rules_path: str | None = None
    synchronous: Synchronous = "FULL"
    # Where the event log's writer runs: a child process (beside the event loop) or, where
    # starting processes is not allowed, a thread of the orchestrator's own.
    eventlog_writer: WriterMode = "process"
    # Refuse to grow the event log past this size (SQLite's page quota): at the limit,
    # writes fail as on a full disk, before the disk itself fills for everyone on it.
    eventlog_max_size_bytes: Annotated[int, msgspec.Meta(gt=0)] | None = None
    # 0 would leave boot waiting forever for a slot.
    recovery_concurrency: Annotated[int, msgspec.Meta(ge=1)] = 64
    task_id_prefix: str = "orch"
    orphans: OrphanPolicy = "report"
    # 0 has always meant "no periodic reconciliation", like None; below 0 it would spin.
    reconcile_interval_s: Annotated[float, msgspec.Meta(ge=0)] | None = None
    client_attempts: Annotated[int, msgspec.Meta(ge=1)] = 2


class LogHealth(msgspec.Struct, frozen=True):
    """Whether the event log takes writes: `failure` when it never will again (its writers
    kept dying), `refused` while commits fail (a full disk, a read-only file)."""

    failure: EventLogError | None
    refused: WritesRefused | None


class Orchestrator:
    def __init__(
        self,
        event_log: EventLog,
        overlord: Overlord,
        *,
        config: OrchestratorConfig,
        rules: RuleSet,
        clock: Clock,
        rng: random.Random,
        alerts: AlertSink,
    ) -> None:
        self.log = event_log
        self.streams = JobStreams(event_log)
        self.streams.listen(self._on_transition)
        self.breakers = Breakers(
            event_log,
            clock,
            policy=config.breaker,
            datasource_policy=config.datasource_breaker,
        )
        self.raw_overlord = overlord
        self.overlord: Overlord = GuardedOverlord(overlord, self.breakers)
        self.slots = SlotBudget(self.overlord, clock, config.slots)
        self.breakers.slots = self.slots
        self.config = config
        self.rules = rules
        self.clock = clock
        self.rng = rng
        self.alerts = alerts
        self.states: dict[str, JobState] = {}
        self.counters: Counter[str] = Counter()
        self._watchers: dict[str, set[asyncio.Queue[JobUpdate | None]]] = defaultdict(set)
        self._terminal_waiters: dict[str, list[asyncio.Future[JobState]]] = defaultdict(list)
        self.poller: ActorRef[Any] | None = None
        self.poller_actor: StatusPoller | None = None
        self.supervisor: ActorRef[Any] | None = None
        self.supervisor_actor: Supervisor | None = None
        self.reconciler = Reconciler(
            event_log,
            self.overlord,
            clock=clock,
            prefix=config.task_id_prefix,
            orphans=config.orphans,
        )
        self.last_reconcile: ReconcileReport | None = None
        self._periodic: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    # --- lifecycle ---------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        db: str | Path,
        overlord: str | Overlord,
        *,
        auth: AuthHook | None = None,
        verify_tls: bool = True,
        ca_bundle: str | None = None,
        config: OrchestratorConfig | None = None,
        clock: Clock = time.time,
        rng: random.Random | None = None,
        alerts: AlertSink | None = None,
    ) -> AsyncIterator[Orchestrator]:
        """Open the log, recover every live job, and yield a running orchestrator.

        Raises:
            LogInUseError: another orchestrator has `db` open.
        """
        with owning(db):
            config = config or OrchestratorConfig()
            rules = load_rules(config.rules_path)
            event_log = await EventLog.open(
                db,
                synchronous=config.synchronous,
                writer=config.eventlog_writer,
                max_size_bytes=config.eventlog_max_size_bytes,
            )
            client: Overlord
            owned_client: HttpOverlord | None = None
            if isinstance(overlord, str):
                # Few client-level retries: the poller, the actors and the breaker retry with
                # their own backoff, and stacked retries would hide an outage from the breaker.
                owned_client = HttpOverlord(
                    overlord,
                    auth=auth,
                    verify_tls=verify_tls,
                    ca_bundle=ca_bundle,
                    retry=RequestRetryPolicy(attempts=config.client_attempts),
                )
                client = owned_client
            else:
                client = overlord
            alerts = alerts or LogAlertSink()
            try:
                async with asyncio.TaskGroup() as tg:
                    orch = cls(
                        event_log,
                        client,
                        config=config,
                        rules=rules,
                        clock=clock,
                        rng=rng or random.Random(),
                        alerts=alerts,
                    )
                    await orch._start(tg)
                    try:
                        yield orch
                    finally:
                        await orch._stop()
            finally:
                await alerts.aclose()
                if owned_client is not None:
                    await owned_client.close()
                await event_log.close()

    async def _start(self, tg: asyncio.TaskGroup) -> None:
        self.poller_actor = StatusPoller(
            self.overlord, config=self.config.poller, clock=self.clock, rng=self.rng
        )
        self.poller = await spawn(tg, self.poller_actor, name="poller")
        ctx = JobContext(
            log=self.log,
            streams=self.streams,
            overlord=self.overlord,
            poller=self.poller,
            rules=self.rules,
            policy=self.config.job,
            clock=self.clock,
            rng=self.rng,
            gate=self.breakers,
        )
        self.supervisor_actor = Supervisor(ctx, tg, self.config.restart)
        self.supervisor = await spawn(tg, self.supervisor_actor, name="supervisor")
        await self.breakers.restore()
        await self._recover()
        self.ready.set()
        if self.config.reconcile_interval_s:
            self._periodic = tg.create_task(self._reconcile_periodically(), name="reconciler")

    async def _recover(self) -> None:
        """Boot: fold every open job stream, reconcile with the Overlord, start the actors.

        At most `recovery_concurrency` jobs are folded and started at once, so a boot with
        thousands of live jobs neither floods the Overlord nor the event loop.
        """
        streams = await self.log.open_streams(JOB_PREFIX)
        limit = asyncio.Semaphore(self.config.recovery_concurrency)

        async def fold_one(job_id: str) -> None:
            async with limit:
                self.states[job_id] = await self.streams.load(job_id)

        async with asyncio.TaskGroup() as tg:
            for sid, _version in streams:
                tg.create_task(fold_one(job_of_stream(sid)))
        # Claims before any actor starts: a job submitted before the restart holds its slots.
        for state in self.states.values():
            self.slots.observe(state)
        plan: dict[str, list[Command]] = {}
        try:
            self.last_reconcile, plan = await self.reconciler.run(list(self.states.values()))
        except (OverlordError, EventLogUnavailableError, WriterLostError) as exc:
            # The Overlord could not be asked, or the log would not record the decisions (a
            # full disk): nothing was decided. The actors resolve their own state as the
            # Overlord answers and the log takes writes again, and the next periodic
            # reconcile decides afresh.
            logger.warning("boot_reconcile_failed", error=str(exc))
            self.last_reconcile = ReconcileReport(started_at=self.clock(), error=str(exc))
        await self._deliver(plan, start_live=True)
        logger.info("recovered", jobs=len(streams))

    async def _deliver(self, plan: dict[str, list[Command]], *, start_live: bool) -> None:
        """Hand each job its reconciliation commands through its own actor."""
        assert self.supervisor is not None
        limit = asyncio.Semaphore(self.config.recovery_concurrency)
        supervisor = self.supervisor
        jobs = set(plan)
        if start_live:
            jobs |= {j for j, s in self.states.items() if not s.terminal}

        async def one(job_id: str) -> None:
            async with limit:
                ref = await supervisor.ask(
                    StartJob(job_id, commands=plan.get(job_id, [])), timeout=None
                )
                # Wait until the actor has applied what reconciliation found (and acted on
                # it), so at most `recovery_concurrency` recoveries are in flight at once.
                await self._settled(ref, job_id)

        async with asyncio.TaskGroup() as tg:
            for job_id in jobs:
                tg.create_task(one(job_id))

    async def reconcile(self) -> ReconcileReport:
        """Reconcile every live job with the Overlord now (also runs periodically)."""
        live = [s for s in self.states.values() if not s.terminal]
        report, plan = await self.reconciler.run(live)
        self.last_reconcile = report
        await self._deliver(plan, start_live=False)
        return report

    async def _reconcile_periodically(self) -> None:
        interval = self.config.reconcile_interval_s
        assert interval is not None
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reconcile()
            except (OverlordError, EventLogUnavailableError, WriterLostError) as exc:
                # The next round tries again; a failure here must not stop the orchestrator.
                logger.warning("reconcile_failed", error=str(exc))

    def resume_datasource(self, datasource: str, by: str = "user") -> bool:
        """Close a datasource's breaker after a person has looked. False if it was not open."""
        return self.breakers.resume(datasource, by)

    async def _stop(self) -> None:
        if self._periodic is not None:
            self._periodic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._periodic
        for waiters in self._terminal_waiters.values():
            for fut in waiters:
                if not fut.done():
                    fut.cancel()
        for queues in self._watchers.values():
            for q in queues:
                q.put_nowait(None)
        if self.supervisor is not None:
            self.supervisor.stop()
            await self.supervisor.join()
        if self.poller is not None:
            self.poller.stop()
            await self.poller.join()
        await self.breakers.flush()

    # --- transitions -------------------------------------------------------------------

    def _on_transition(self, recorded: Transition) -> None:
        state, events = recorded.state, recorded.events
        self.states[state.job_id] = state
        self.slots.observe(state)
        excerpt: dict[str, Any] | None = None
        for event in events:
            self.counters[type(event).__struct_config__.tag] += 1  # type: ignore[index]
            if isinstance(event, FailureClassified):
                excerpt = event.report_excerpt
                if event.classification == "structural":
                    self.breakers.record_structural(state.datasource, event.reason)
            if isinstance(event, JobDied):
                self.alerts.raise_alert(
                    Alert(
                        job_id=state.job_id,
                        datasource=state.datasource,
                        interval=state.interval,
                        task_id=state.task_id,
                        classification=state.classification,
                        rule=event.rule or state.rule,
                        reason=event.reason,
                        report_excerpt=excerpt,
                        at=event.at,
                    )
                )
        update = JobUpdate(self._view(state), [str(type(e).__struct_config__.tag) for e in events])
        for q in self._watchers.get(state.job_id, ()):
            q.put_nowait(update)
            if state.terminal:
                q.put_nowait(None)
        if state.terminal:
            for fut in self._terminal_waiters.pop(state.job_id, []):
                if not fut.done():
                    fut.set_result(state)

    # --- the embedding API -------------------------------------------------------------

    async def submit(self, job: CompiledJob) -> JobView:
        """Accept a compiled job: returns once its acceptance is recorded, before any attempt.

        Submitting the same job again is a no-op.

        Raises:
            EventLogUnavailableError: the log refused the write (a full disk, a read-only
                file); the job was not accepted, and submitting it again later is safe.
        """
        assert self.supervisor is not None
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
        return await self._settled(ref, job.job_id)

    def _view(self, state: JobState) -> JobView:
        breakers = self.breakers
        held = hold_reason(
            state,
            breakers.paused,
            breakers.overlord.phase != "closed",
            slots=self.slots.held.get(state.job_id),
        )
        return JobView.of(state, held)

    async def _settled(self, ref: ActorRef[Any] | None, job_id: str) -> JobView:
        """The job's view once its actor has handled what was just sent to it."""
        if ref is not None:
            # An ask queues behind the commands already sent, so its answer reflects them.
            with contextlib.suppress(ActorStoppedError):
                state = await ref.ask(GetState(), timeout=None)
                if isinstance(state, JobState):
                    return self._view(state)
        state = self.states.get(job_id) or await self.streams.load(job_id)
        return self._view(state)

    async def get(self, job_id: str, *, missing_ok: bool = False) -> JobView | None:
        """The job's current view (from memory, or folded from the log)."""
        state = self.states.get(job_id)
        if state is None:
            state = await self.streams.load(job_id)
            if state.phase == "new":
                if missing_ok:
                    return None
                raise UnknownJobError(job_id)
            if state.terminal:
                self.states[job_id] = state
        return self._view(state)

    def jobs(self) -> list[JobView]:
        return [self._view(s) for s in self.states.values() if s.phase != "new"]

    async def wait(self, job_id: str, *, timeout: float | None = None) -> JobView:
        """Wait until the job is terminal; return its final view."""
        view = await self.get(job_id)
        assert view is not None
        if view.terminal:
            return view
        fut: asyncio.Future[JobState] = asyncio.get_running_loop().create_future()
        self._terminal_waiters[job_id].append(fut)
        state = await asyncio.wait_for(fut, timeout)
        return self._view(state)

    async def watch(self, job_id: str) -> AsyncIterator[JobUpdate]:
        """Every transition of the job from now on, ending after its terminal one."""
        view = await self.get(job_id)
        assert view is not None
        if view.terminal:
            yield JobUpdate(view, [])
            return
        queue: asyncio.Queue[JobUpdate | None] = asyncio.Queue()
        self._watchers[job_id].add(queue)
        try:
            while True:
                update = await queue.get()
                if update is None:
                    return
                yield update
        finally:
            self._watchers[job_id].discard(queue)

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
        assert self.supervisor is not None
        ref = await self.supervisor.ask(StartJob(job_id), timeout=None)
        # An ask, not a tell: a refused write comes back to the caller instead of stopping
        # the job's actor, and a caller told "cancelling" can rely on it.
        try:
            await ref.ask(Cancel(at=self.clock(), reason=reason), timeout=None)
            return await self._settled(ref, job_id)
        except ActorStoppedError:
            # The job ended on its own (nothing to cancel), or the actor crashed on an
            # earlier message and the cancel went with it.
            view = await self._settled(None, job_id)
            return view if view.terminal else None

    async def _cancel_through_successor(self, job_id: str, reason: str) -> JobView:
        """Start the job's next actor with the cancel as its first message: before the work
        that may have crashed its predecessor, and without waiting out the restart delay."""
        assert self.supervisor is not None
        command = Cancel(at=self.clock(), reason=reason)
        ref = await self.supervisor.ask(StartJob(job_id, commands=[command]), timeout=None)
        view = await self._settled(ref, job_id)
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
        assert self.supervisor is not None
        retry = Retry(at=self.clock(), reason=reason, by=by)
        recorded = await self.streams.record(job_id, retry, reopen=True)
        if not recorded.events:
            await self._why_not_retryable(job_id, recorded.state)
        new = recorded.state
        logger.info("job_retried", job_id=job_id, phase=new.phase, by=by, reason=reason)
        if self.supervisor_actor is not None:
            self.supervisor_actor.forget_crashes(job_id)
        ref = await self.supervisor.ask(StartJob(job_id), timeout=None)
        return await self._settled(ref, job_id)

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
        """Every job the log holds: those in memory, and the others folded from their streams
        (finished long ago, or written by another process)."""
        views = {v.job_id: v for v in self.jobs()}
        for sid, _version, _closed in await self.log.all_streams(JOB_PREFIX):
            job_id = job_of_stream(sid)
            if job_id not in views:
                views[job_id] = JobView.of(fold(r.event for r in await self.history(job_id)))
        return list(views.values())

    async def tail(self) -> AsyncIterator[Recorded]:
        """Every event committed to the log from now on, in order, until it closes."""
        after = await self.log.last_seq()
        async for recorded in self.log.subscribe(after):
            yield recorded

    def log_health(self) -> LogHealth:
        return LogHealth(failure=self.log.write_failure, refused=self.log.writes_refused)

    def write_stats(self) -> WriterStats:
        """The event log's writer statistics since it was opened (live: they keep counting)."""
        return self.log.stats

    def poll_stats(self) -> PollerStats | None:
        return self.poller_actor.stats if self.poller_actor is not None else None

    def live_count(self) -> int:
        return sum(1 for s in self.states.values() if s.phase not in TERMINAL and s.phase != "new")
