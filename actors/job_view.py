"""What users see of a job: a read-only view of its state, and one live update."""

from __future__ import annotations

import msgspec

from actors.job_state import JobState


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    """What users see of a job."""

    job_id: str
    phase: str
    datasource: str
    interval: str
    attempt: int
    max_attempts: int = 1
    uncounted: int = 0  # failed attempts that did not use up one of `max_attempts`
    task_id: str | None
    terminal: bool
    classification: str | None = None
    reason: str | None = None
    rule: str | None = None
    last_error: str | None = None
    accepted_at: float | None = None
    finished_at: float | None = None
    pipeline: str | None = None

    @classmethod
    def of(cls, state: JobState) -> JobView:
        return cls(
            job_id=state.job_id,
            phase=state.phase,
            datasource=state.datasource,
            interval=state.interval,
            attempt=state.attempt,
            max_attempts=state.max_attempts,
            uncounted=state.uncounted,
            task_id=state.task_id,
            terminal=state.terminal,
            classification=state.classification,
            reason=state.reason,
            rule=state.rule,
            last_error=state.last_error,
            accepted_at=state.accepted_at,
            finished_at=state.finished_at,
            pipeline=state.pipeline,
        )


class JobUpdate(msgspec.Struct, frozen=True):
    job: JobView
    events: list[str]
