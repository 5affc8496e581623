"""What embedders, the API and the CLI call to manage supervisors (`Orchestrator` delegates
here), and the view of a supervisor they get back.

Every method hands a command to the supervisor's actor and returns once the actor has
recorded it and made the call that followed (or, if the Overlord cannot be reached, is
waiting to retry: the view then shows the intent as `pending`).
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from actors.errors import OrchestratorError
from actors.streams.health import HealthWatcher
from actors.streams.manager import SupervisorManager
from actors.streams.messages import (
    Apply,
    Command,
    RecordActionFailed,
    RecordReset,
    Reset,
    Resume,
    Suspend,
    Terminate,
)
from actors.streams.state import SupervisorState
from overlord.errors import OverlordError
from overlord.models import SupervisorState as ListedSupervisor
from specs.supervisors import supervisor_from_spec

__all__ = [
    "SupervisorFacade",
    "SupervisorRefusedError",
    "SupervisorView",
    "UnknownSupervisorError",
]


class UnknownSupervisorError(OrchestratorError):
    def __init__(self, supervisor_id: str) -> None:
        self.supervisor_id = supervisor_id
        super().__init__(f"no managed supervisor with id {supervisor_id!r}")


class SupervisorRefusedError(OrchestratorError):
    """The request cannot be carried out as asked; `status` is the HTTP answer it maps to
    (400: bad input or refused by the Overlord, 409: not in a state that allows it)."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class SupervisorView(msgspec.Struct, frozen=True, kw_only=True):
    supervisor_id: str
    datasource: str | None
    managed: bool
    state: str | None = None
    detailed_state: str | None = None
    healthy: bool | None = None
    desired: str | None = None
    pending: str | None = None
    # The rules' reading of the current unhealthy spell (transient / structural).
    health: str | None = None
    health_rule: str | None = None
    health_reason: str | None = None
    lag: int | None = None
    lag_millis: int | None = None
    spec_hash: str | None = None
    in_sync: bool | None = None
    recent_errors: tuple[str, ...] = ()
    last_error: str | None = None
    last_reset_by: str | None = None
    last_reset_reason: str | None = None
    last_reset_at: float | None = None


class SupervisorFacade:
    def __init__(self, manager: SupervisorManager, watcher: HealthWatcher) -> None:
        self.manager = manager
        self.watcher = watcher

    async def apply(self, spec: dict[str, object]) -> SupervisorView:
        """Validate `spec` and make the Overlord hold it. Applying what it holds already
        sends nothing.

        Raises:
            SpecError: the spec is invalid; nothing was recorded or sent.
            SupervisorRefusedError: the Overlord refused the spec (400).
        """
        compiled = supervisor_from_spec(dict(spec))
        sid = compiled.supervisor_id
        known = self.manager.states.get(sid)
        if known is not None and known.pending_hash == compiled.spec_hash:
            return self.view(known)  # this very apply is in progress (its call is retried)
        if known is not None and known.pending is not None:
            raise SupervisorRefusedError(
                f"supervisor {sid!r} has a {known.pending} in progress; apply again after it",
                409,
            )
        self.manager.directory.remember(sid, compiled.datasource)
        apply = Apply(
            at=self.manager.ctx.clock(),
            supervisor_id=sid,
            datasource=compiled.datasource,
            spec=compiled.spec_json,
            spec_hash=compiled.spec_hash,
        )
        state = await self.manager.ask(sid, apply)
        refused = state.pending is None and state.spec_hash != compiled.spec_hash
        if refused and state.last_error is not None:
            raise SupervisorRefusedError(f"the Overlord refused the spec: {state.last_error}")
        return self.view(state)

    async def supervisors(self) -> list[SupervisorView]:
        """The managed supervisors, and those the Overlord lists that we do not manage."""
        try:
            listed = await self.manager.directory.states()
        except OverlordError:
            listed = self.manager.directory.cached()
        managed = self.manager.managed()
        views = [self.view(s) for s in managed.values()]
        views += [_unmanaged(row) for sid, row in listed.items() if sid not in managed]
        return sorted(views, key=lambda v: (v.datasource or "", v.supervisor_id))

    async def get(self, sid: str) -> SupervisorView:
        state = self.manager.states.get(sid)
        if state is not None and state.known:
            return self.view(state)
        row = self.manager.directory.cached().get(sid)
        if row is None:
            raise UnknownSupervisorError(sid)
        return _unmanaged(row)

    async def suspend(self, sid: str, by: str, reason: str = "") -> SupervisorView:
        return await self._act(sid, Suspend(at=self.manager.ctx.clock(), by=by, reason=reason))

    async def resume(self, sid: str, by: str, reason: str = "") -> SupervisorView:
        return await self._act(sid, Resume(at=self.manager.ctx.clock(), by=by, reason=reason))

    async def terminate(self, sid: str, by: str, reason: str = "") -> SupervisorView:
        return await self._act(sid, Terminate(at=self.manager.ctx.clock(), by=by, reason=reason))

    async def reset(self, sid: str, by: str, reason: str) -> SupervisorView:
        """Reset the supervisor's offsets: data may be skipped or read twice. A person's call:
        `by` and `reason` are required and recorded.

        Raises:
            SupervisorRefusedError: no name or no reason (400), or another call of this
                supervisor is in progress (409).
        """
        if not by.strip() or not reason.strip():
            raise SupervisorRefusedError("a reset needs who asks for it (by) and why (reason)")
        await self._managed(sid)
        before = self.manager.states[sid]
        if before.pending is not None:
            raise SupervisorRefusedError(
                f"supervisor {sid!r} has a {before.pending} in progress", 409
            )
        return await self._act(sid, Reset(at=self.manager.ctx.clock(), by=by, reason=reason))

    async def answer_reset(self, sid: str, happened: bool, by: str) -> SupervisorView:
        """A person's answer to a reset that may have happened (the actor asked).

        Raises:
            SupervisorRefusedError: no reset awaits an answer (409).
        """
        state = await self._managed(sid)
        if state.pending != "reset":
            raise SupervisorRefusedError(f"supervisor {sid!r} has no reset awaiting an answer", 409)
        now = self.manager.ctx.clock()
        command: Command = (
            RecordReset(at=now)
            if happened
            else RecordActionFailed(
                at=now, action="reset", message=f"{by} says the reset did not happen"
            )
        )
        return self.view(await self.manager.ask(sid, command))

    async def _managed(self, sid: str) -> SupervisorState:
        state = self.manager.states.get(sid)
        if state is None or not state.known:
            raise UnknownSupervisorError(sid)
        return state

    async def _act(self, sid: str, command: Command) -> SupervisorView:
        await self._managed(sid)
        return self.view(await self.manager.ask(sid, command))

    def view(self, state: SupervisorState) -> SupervisorView:
        lag = self.watcher.lags.get(state.supervisor_id)
        return SupervisorView(
            supervisor_id=state.supervisor_id,
            datasource=state.datasource,
            managed=True,
            state=state.observed,
            detailed_state=state.detailed_state,
            healthy=state.healthy,
            desired=state.desired,
            pending=state.pending,
            health=state.health,
            health_rule=state.health_rule,
            health_reason=state.health_reason,
            lag=lag.records if lag is not None else None,
            lag_millis=lag.millis if lag is not None else None,
            spec_hash=state.spec_hash or None,
            in_sync=state.in_sync,
            recent_errors=state.recent_errors,
            last_error=state.last_error,
            last_reset_by=state.last_reset_by,
            last_reset_reason=state.last_reset_reason,
            last_reset_at=state.last_reset_at,
        )


def _unmanaged(row: ListedSupervisor) -> SupervisorView:
    return SupervisorView(
        supervisor_id=row.id,
        datasource=row.data_source,
        managed=False,
        state=row.state,
        detailed_state=row.detailed_state,
        healthy=row.healthy,
    )
