"""The health watcher: every managed supervisor's state from one bulk read per round.

Each round reads the shared directory (`GET /supervisor?state=true`, one request for every
supervisor). A supervisor whose state changed, or that is unhealthy, also gets its own
`GET /supervisor/{id}/status`, for `recentErrors` (which the rules read) and its lag; a
healthy, unchanged one only when its lag is older than `lag_interval_s`. Its actor hears a
`RecordState` only when there is something to record or to read: the FSM records changes
alone, and the actor reads each unhealthy report with the rules.

A managed supervisor the listing lacks is handled as at boot (`SupervisorManager.reconcile`).
The watcher never suspends, resumes or resets anything.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
import structlog

from actors.streams.manager import SupervisorManager
from actors.streams.messages import RecordState
from actors.streams.state import SupervisorState
from overlord.errors import OverlordError
from overlord.models import SupervisorPayload
from overlord.urls import scrub_urls

logger = structlog.get_logger("druid_orch.streams")

__all__ = ["HealthWatcher", "Lag", "StreamsConfig"]

MAX_ERRORS = 5  # of recentErrors kept per report, newest last


class StreamsConfig(msgspec.Struct, frozen=True, kw_only=True):
    # 0 would poll without pause.
    health_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    lag_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0


class Lag(msgspec.Struct, frozen=True):
    """A supervisor's lag as its last status reported it (None: not reported)."""

    records: int | None
    millis: int | None
    at: float


class HealthWatcher:
    def __init__(self, manager: SupervisorManager, config: StreamsConfig) -> None:
        self.manager = manager
        self.config = config
        self.lags: dict[str, Lag] = {}
        self.rounds = 0

    async def every(self) -> None:
        """Poll until cancelled; a failed round is logged and the next one comes anyway."""
        while True:
            await asyncio.sleep(self.config.health_interval_s)
            await self.poll()

    async def poll(self) -> None:
        """One round over every managed supervisor that is live and not mid-call."""
        manager = self.manager
        watched = {
            sid: s
            for sid, s in manager.managed().items()
            if not s.terminated and s.applied and s.pending is None
        }
        self.rounds += 1
        if not watched:
            return
        try:
            rows = await manager.directory.states()
        except OverlordError as exc:
            logger.warning("supervisor_health_unavailable", error=scrub_urls(str(exc))[:300])
            return
        missing = {sid: s for sid, s in watched.items() if sid not in rows}
        if missing:
            for sid, commands in (await manager.reconcile(missing)).items():
                for command in commands:
                    manager.tell(sid, command)
        now = manager.ctx.clock()
        for sid, state in watched.items():
            row = rows.get(sid)
            if row is None:
                continue
            seen = (row.state, row.detailed_state, row.healthy)
            changed = seen != (state.observed, state.detailed_state, state.healthy)
            lag = self.lags.get(sid)
            stale = lag is None or now - lag.at >= self.config.lag_interval_s
            if not (changed or not row.healthy or stale):
                continue
            report = RecordState(
                at=now, state=row.state, detailed_state=row.detailed_state, healthy=row.healthy
            )
            payload = await self._status(sid)
            if payload is not None:
                self.lags[sid] = Lag(payload.aggregate_lag, payload.aggregate_lag_millis, now)
                report = _report(payload, now)
            if changed or report.healthy is False or _differs(report, state):
                manager.tell(sid, report)

    async def _status(self, sid: str) -> SupervisorPayload | None:
        try:
            return (await self.manager.ctx.overlord.supervisor_status(sid)).payload
        except OverlordError as exc:
            logger.info("supervisor_status_unavailable", supervisor_id=sid, error=str(exc)[:300])
            return None


def _report(payload: SupervisorPayload, at: float) -> RecordState:
    errors = tuple(
        f"{e.exception_class or 'error'}: {e.message or ''}"[:500]
        for e in payload.recent_errors[-MAX_ERRORS:]
    )
    return RecordState(
        at=at,
        state=payload.state,
        detailed_state=payload.detailed_state,
        healthy=payload.healthy,
        recent_errors=errors,
    )


def _differs(report: RecordState, state: SupervisorState) -> bool:
    return (report.state, report.detailed_state, report.healthy) != (
        state.observed,
        state.detailed_state,
        state.healthy,
    )
