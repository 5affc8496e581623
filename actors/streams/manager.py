"""The supervisor manager: owns the supervisor actors, starts them at boot, restarts crashed ones.

At boot it folds every `supervisor:` stream, starts an actor for each one not terminated,
and first reconciles them with the Overlord through ONE `GET /supervisor?state=true` (the
shared directory): each listed supervisor gets its state; a managed one missing from the
list is confirmed missing with `GET /supervisor/{id}`, recorded as held by nobody, and,
when we want it running, applied again (said in the log). Nothing else is POSTed at boot:
a supervisor the Overlord lists is never re-applied, so restarting the orchestrator never
restarts streaming tasks.

A crashed actor is restarted from its stream after a short delay, with the restart
intensity of the job supervisor (`RestartPolicy`); past it, it stays down and an alert says
so. The manager also keeps every supervisor's latest state (from the streams' listener),
which the facade's views and the health watcher read.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from actors.runtime import ActorRef, spawn
from actors.stream_names import supervisor_of_stream, supervisor_stream
from actors.streams.actor import GetState, SupervisorActor, SupervisorContext
from actors.streams.directory import SupervisorDirectory
from actors.streams.messages import Apply, Command, RecordHeld, RecordState
from actors.streams.state import SupervisorState
from actors.streams.stream import SupervisorTransition
from actors.supervision.alerts import Alert
from actors.supervision.policy import GiveUp, RestartPolicy, on_child_failure
from overlord.errors import OverlordError, SupervisorNotFoundError
from overlord.models import SupervisorState as ListedSupervisor
from overlord.urls import scrub_urls

logger = structlog.get_logger("druid_orch.streams")

__all__ = ["SupervisorManager"]


class SupervisorManager:
    def __init__(
        self,
        ctx: SupervisorContext,
        tg: asyncio.TaskGroup,
        directory: SupervisorDirectory,
        policy: RestartPolicy,
    ) -> None:
        self.ctx = ctx
        self.tg = tg
        self.directory = directory
        self.policy = policy
        self.children: dict[str, ActorRef[Any]] = {}
        self.states: dict[str, SupervisorState] = {}
        self.crashes: dict[str, tuple[float, ...]] = {}
        self.restarts = 0
        self._lock = asyncio.Lock()
        self._closed = False
        ctx.streams.listen(self._take)

    def _take(self, transition: SupervisorTransition) -> None:
        state = transition.state
        self.states[state.supervisor_id] = state

    def managed(self) -> dict[str, SupervisorState]:
        """Every supervisor with a stream whose apply was ever intended, by id."""
        return {sid: s for sid, s in self.states.items() if s.known}

    # --- boot ----------------------------------------------------------------------------

    async def boot(self) -> None:
        """Fold every supervisor stream, reconcile the live ones with the Overlord in one
        listing, and start their actors with what the reconciliation found."""
        for sid in await self.ctx.streams.ids():
            state = await self.ctx.streams.load(sid)
            if state.known:
                self.states[sid] = state
                self.directory.remember(sid, state.datasource)
        live = {sid: s for sid, s in self.states.items() if not s.terminated}
        commands = await self.reconcile(live, max_age_s=0.0) if live else {}
        refs = [await self.ensure(sid, commands.get(sid, [])) for sid in sorted(live)]
        # Boot ends once every actor has taken what the reconciliation told it, so the views
        # read right after boot are the Overlord's (a crashed actor is restarted meanwhile).
        await asyncio.gather(
            *(ref.ask(GetState(), timeout=None) for ref in refs), return_exceptions=True
        )
        logger.info("supervisors_recovered", live=len(live), known=len(self.states))

    async def reconcile(
        self, live: dict[str, SupervisorState], *, max_age_s: float | None = None
    ) -> dict[str, list[Command]]:
        """What each live supervisor's actor should hear of the Overlord's listing.

        An unreadable listing changes nothing: the actors start from their streams, and
        their pending intents ask the Overlord themselves.
        """
        try:
            rows = await self.directory.states(max_age_s=max_age_s)
        except OverlordError as exc:
            logger.warning("supervisor_listing_unavailable", error=scrub_urls(str(exc))[:300])
            return {}
        commands: dict[str, list[Command]] = {}
        for sid, state in live.items():
            row = rows.get(sid)
            if row is not None:
                commands[sid] = [_observed(row, self.ctx.clock())]
            elif state.applied and state.pending is None:
                commands[sid] = await self._missing(sid, state)
        return commands

    async def _missing(self, sid: str, state: SupervisorState) -> list[Command]:
        """A managed supervisor the listing lacks: confirmed with its own GET first, since
        re-applying one that exists would restart its tasks."""
        try:
            await self.ctx.overlord.supervisor_spec(sid)
        except SupervisorNotFoundError:
            pass
        except OverlordError as exc:
            logger.warning("supervisor_missing_unconfirmed", supervisor_id=sid, error=str(exc))
            return []
        else:
            return []  # listed a moment later: it exists
        now = self.ctx.clock()
        commands: list[Command] = [RecordHeld(at=now, spec_hash=None)]
        if state.desired != "running":
            logger.warning("supervisor_missing", supervisor_id=sid, desired=state.desired)
            return commands
        logger.warning(
            "supervisor_missing_reapplied",
            supervisor_id=sid,
            spec_hash=state.spec_hash,
            note="the Overlord has no supervisor by this id; applying our spec again",
        )
        apply = Apply(
            at=now,
            supervisor_id=sid,
            datasource=state.datasource,
            spec=state.spec,
            spec_hash=state.spec_hash,
        )
        return [*commands, apply]

    # --- the actors ----------------------------------------------------------------------

    async def ensure(self, sid: str, initial: list[Command] | None = None) -> ActorRef[Any]:
        """The supervisor's live actor, started with `initial` queued if it was not running;
        if it was, `initial` is sent to it."""
        async with self._lock:
            ref = self.children.get(sid)
            if ref is not None and ref.alive:
                for command in initial or []:
                    await ref.send(command)
                return ref
            actor = SupervisorActor(sid, self.ctx, initial or [])
            ref = await spawn(self.tg, actor, name=supervisor_stream(sid), on_crash=self._on_crash)
            self.children[sid] = ref
            ref.when_done(lambda: self._forget(sid, ref))
            return ref

    async def ask(self, sid: str, command: Command | GetState) -> SupervisorState:
        """Hand `command` to the supervisor's actor and return its state once the actor has
        recorded it and carried out what followed (or is waiting to retry)."""
        ref = await self.ensure(sid)
        state: SupervisorState = await ref.ask(command, timeout=None)
        return state

    def tell(self, sid: str, command: Command) -> None:
        """Deliver a command to a running actor, if there is one (the watcher's reports)."""
        ref = self.children.get(sid)
        if ref is not None and ref.alive:
            with contextlib.suppress(Exception):  # full mailbox: the next round reports again
                ref.tell(command)

    def _forget(self, sid: str, ref: ActorRef[Any]) -> None:
        if self.children.get(sid) is ref:
            del self.children[sid]

    def _on_crash(self, ref: ActorRef[Any], error: BaseException) -> None:
        if self._closed:
            return
        sid = supervisor_of_stream(ref.name)
        now = self.ctx.clock()
        crashes, decision = on_child_failure(self.crashes.get(sid, ()), now, self.policy)
        self.crashes[sid] = crashes
        text = scrub_urls(f"{type(error).__name__}: {error}")[:1000]
        logger.error("supervisor_actor_crashed", supervisor_id=sid, error=text)
        if isinstance(decision, GiveUp):
            state = self.states.get(sid, SupervisorState())
            self.ctx.alerts.raise_alert(
                Alert(
                    job_id=supervisor_stream(sid),
                    datasource=state.datasource,
                    interval="",
                    task_id=None,
                    classification="structural",
                    rule="restart-intensity",
                    reason=f"{decision.reason}; last: {text}",
                    at=now,
                )
            )
            return
        self.restarts += 1
        asyncio.get_running_loop().call_later(decision.delay_s, self._restart, sid)

    def _restart(self, sid: str) -> None:
        if not self._closed:
            self.tg.create_task(self._restart_now(sid), name=f"restart:{sid}")

    async def _restart_now(self, sid: str) -> None:
        try:
            await self.ensure(sid)
        except Exception as exc:  # a failed restart must not end the task group
            logger.error("supervisor_actor_not_restarted", supervisor_id=sid, error=str(exc))

    async def stop(self) -> None:
        self._closed = True
        refs = list(self.children.values())
        for ref in refs:
            ref.stop()
        for ref in refs:
            await ref.join()


def _observed(row: ListedSupervisor, at: float) -> RecordState:
    return RecordState(
        at=at, state=row.state, detailed_state=row.detailed_state, healthy=row.healthy
    )
