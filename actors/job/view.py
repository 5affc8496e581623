"""What users see of a job: a read-only view of its state, and one live update."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from actors.job.state import JobState, Phase
from actors.job.sub_tasks import sub_tasks_story
from eventlog.events import Classification

# The phases in which a job's next step is a submission, which the breakers can hold back.
SUBMIT_PHASES: frozenset[Phase] = frozenset({"accepted", "submitting", "retry_wait"})


def hold_reason(
    state: JobState,
    paused: Mapping[str, str],
    overlord_breaker_open: bool | str = False,
    *,
    slots: str | None = None,
    watermark: str | None = None,
) -> str | None:
    """Why the job's next submission is held back, or None when nothing holds it.

    `paused`: the paused datasources and why (`Breakers.paused`).
    `slots`: why the slot budget holds the job back (`SlotBudget.held`), if it does.
    `watermark`: why the streaming watermark holds it back (`WatermarkGate.held`), if it does.
    """
    if state.phase not in SUBMIT_PHASES:
        return None
    if state.datasource in paused:
        return (
            f"datasource {state.datasource} is paused ({paused[state.datasource]}); "
            f"`druid-orch resume {state.datasource}` lets it go on"
        )
    if overlord_breaker_open:
        # A string is the cause of the failures that opened it (`cannot connect to ...`).
        cause = f" ({overlord_breaker_open})" if isinstance(overlord_breaker_open, str) else ""
        return f"the Overlord circuit breaker is open{cause}; submissions wait until it closes"
    if watermark is not None and state.phase != "submitting":
        return watermark
    if slots is not None and state.phase != "submitting":
        return slots
    if state.phase == "submitting" and _deferred(state) and state.last_error:
        # A submission that did not go through (a wrong URL, a leader warming up) is tried
        # again until it does; without this the job just sits in `submitting`.
        return f"its submission has not gone through ({state.last_error}); trying again"
    return None


def next_try_at(state: JobState) -> float | None:
    """When the job's next attempt (`retry_wait`) or put-off submission is due, if it waits."""
    if state.phase == "retry_wait":
        return state.retry_not_before
    if state.phase == "submitting" and _deferred(state):
        return state.submit_not_before
    return None


def _deferred(state: JobState) -> bool:
    """Whether this attempt's submission was put off after an error. (A retried job whose task
    may live also waits for a status lookup, from the retry on, with no error of its own.)"""
    not_before, since = state.submit_not_before, state.phase_since
    return not_before is not None and since is not None and not_before > since


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    """What users see of a job."""

    job_id: str
    phase: Phase
    datasource: str
    interval: str
    attempt: int
    max_attempts: int = 1
    uncounted: int = 0  # failed attempts that did not use up one of `max_attempts`
    task_id: str | None
    terminal: bool
    classification: Classification | None = None
    reason: str | None = None
    rule: str | None = None
    last_error: str | None = None
    accepted_at: float | None = None
    finished_at: float | None = None
    pipeline: str | None = None
    held: str | None = None  # why its next submission waits (a paused datasource, a breaker)
    # The interval its current attempt was sent with, when the streaming watermark clipped it
    # (None: the job's own interval).
    sent_interval: str | None = None
    # The sub-task parallelism the current attempt runs with, when chosen from the free
    # slots, and what it was chosen from (`m=3: 7 of 16 slots free, 2 jobs waiting`).
    sub_tasks: int | None = None
    sub_tasks_reason: str | None = None
    # When its next attempt or deferred submission is due (`retry_wait`, a submission put
    # off), so that people read "next try in 42 s"; and since when it is in its phase.
    next_try_at: float | None = None
    since: float | None = None

    @classmethod
    def of(cls, state: JobState, held: str | None = None) -> JobView:
        chosen = state.sub_tasks
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
            held=held,
            sent_interval=state.submit_interval,
            sub_tasks=chosen.m if chosen is not None else None,
            sub_tasks_reason=sub_tasks_story(chosen) if chosen is not None else None,
            next_try_at=next_try_at(state),
            since=state.phase_since,
        )


class JobUpdate(msgspec.Struct, frozen=True):
    job: JobView
    events: list[str]
