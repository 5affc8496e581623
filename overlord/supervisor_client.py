"""The client's supervisor calls (Kafka / Kinesis streaming ingestion, REFERENCE §9)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from overlord import endpoints as ep
from overlord.models import SupervisorCreated, SupervisorState, SupervisorStatus
from overlord.transport import Caller, decode, unexpected


class _Health(msgspec.Struct):
    healthy: bool


class SupervisorClient(Caller):
    async def supervisors(self) -> list[str]:
        """`GET /supervisor`: the ids the caller may read."""
        reply = await self._transport.call(ep.SUPERVISORS, ep.SUPERVISORS.path())
        return decode(reply, list[str], ep.SUPERVISORS)

    async def supervisor_states(self) -> list[SupervisorState]:
        """`GET /supervisor?state=true`."""
        reply = await self._transport.call(
            ep.SUPERVISORS, ep.SUPERVISORS.path(), params={"state": "true"}
        )
        return decode(reply, list[SupervisorState], ep.SUPERVISORS)

    async def supervisor_status(self, supervisor_id: str) -> SupervisorStatus:
        """`GET /supervisor/{id}/status`. Raises `SupervisorNotFoundError` for an unknown id."""
        reply = await self._transport.call(
            ep.SUPERVISOR_STATUS,
            ep.SUPERVISOR_STATUS.path(supervisor_id=supervisor_id),
            supervisor_id=supervisor_id,
        )
        return decode(reply, SupervisorStatus, ep.SUPERVISOR_STATUS)

    async def supervisor_spec(self, supervisor_id: str) -> dict[str, Any]:
        """`GET /supervisor/{id}`: the stored spec with defaults filled in."""
        reply = await self._transport.call(
            ep.SUPERVISOR_SPEC,
            ep.SUPERVISOR_SPEC.path(supervisor_id=supervisor_id),
            supervisor_id=supervisor_id,
        )
        return decode(reply, dict[str, Any], ep.SUPERVISOR_SPEC)

    async def supervisor_health(self, supervisor_id: str) -> bool:
        """`GET /supervisor/{id}/health`: 200 healthy, 503 `{"healthy": false}` unhealthy."""
        path = ep.SUPERVISOR_HEALTH.path(supervisor_id=supervisor_id)
        reply = await self._transport.call(
            ep.SUPERVISOR_HEALTH, path, accept=(503,), supervisor_id=supervisor_id
        )
        if reply.status == 503 and b"healthy" not in reply.body:
            # An empty 503 is the Overlord itself being unavailable, not the supervisor.
            raise unexpected(reply, ep.SUPERVISOR_HEALTH, path, supervisor_id=supervisor_id)
        return decode(reply, _Health, ep.SUPERVISOR_HEALTH).healthy

    async def create_supervisor(
        self, spec: Mapping[str, Any], *, skip_restart_if_unmodified: bool = False
    ) -> SupervisorCreated:
        """`POST /supervisor`: create, or update (and gracefully restart) an existing one."""
        params = {"skipRestartIfUnmodified": "true"} if skip_restart_if_unmodified else None
        reply = await self._transport.call(
            ep.SUPERVISOR_CREATE, ep.SUPERVISOR_CREATE.path(), json_body=spec, params=params
        )
        return decode(reply, SupervisorCreated, ep.SUPERVISOR_CREATE)

    async def suspend_supervisor(self, supervisor_id: str) -> dict[str, Any]:
        """Suspend; returns the updated spec. 400 if it is already suspended."""
        return await self._spec_action(ep.SUPERVISOR_SUSPEND, supervisor_id)

    async def resume_supervisor(self, supervisor_id: str) -> dict[str, Any]:
        """Resume; returns the updated spec. 400 if it is already running."""
        return await self._spec_action(ep.SUPERVISOR_RESUME, supervisor_id)

    async def terminate_supervisor(self, supervisor_id: str) -> None:
        """Terminate: its tasks publish and stop, and the id is no longer listed."""
        reply = await self._transport.call(
            ep.SUPERVISOR_TERMINATE,
            ep.SUPERVISOR_TERMINATE.path(supervisor_id=supervisor_id),
            supervisor_id=supervisor_id,
        )
        decode(reply, dict[str, str], ep.SUPERVISOR_TERMINATE)

    async def reset_supervisor(self, supervisor_id: str) -> None:
        """`POST /supervisor/{id}/reset`: forget the stored offsets (data may be skipped or
        read twice). Only ever sent on a person's say-so."""
        reply = await self._transport.call(
            ep.SUPERVISOR_RESET,
            ep.SUPERVISOR_RESET.path(supervisor_id=supervisor_id),
            supervisor_id=supervisor_id,
        )
        decode(reply, dict[str, Any], ep.SUPERVISOR_RESET)

    async def _spec_action(self, endpoint: ep.Endpoint, supervisor_id: str) -> dict[str, Any]:
        reply = await self._transport.call(
            endpoint, endpoint.path(supervisor_id=supervisor_id), supervisor_id=supervisor_id
        )
        return decode(reply, dict[str, Any], endpoint)
