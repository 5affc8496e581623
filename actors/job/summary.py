"""A job's row in the read model: computed from its folded state, and rebuilt by a fold.

`JobStreams.record` hands `summary_of(new_state)` to the log with the events, and the log
writes it in the same transaction (docs/eventlog.md, "The read model"). The row keeps the
recorded facts only; what holds a live job back right now (a paused datasource, an open
breaker, the slot gate) is overlaid from memory by whoever shows it (`JobBoard.view_of`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from actors.job.evolve import evolve
from actors.job.state import JobState, Phase
from actors.job.sub_tasks import sub_tasks_story
from actors.job.view import JobView, hold_reason, next_try_at
from actors.stream_names import JOB_PREFIX
from eventlog.contract import EventLog
from eventlog.errors import EventLogUnavailableError
from eventlog.events import Classification
from eventlog.records import Recorded
from eventlog.summaries import ERROR_EXCERPT, JobSummary

_NOTHING_PAUSED: dict[str, str] = {}
_REBUILD_TRIES = 5


def summary_of(state: JobState, *, position: int = 0, changed_at: float = 0.0) -> JobSummary:
    """The read model's row for `state` (the log stamps `position` and `changed_at` when it
    writes the row with the events; a rebuild passes those of the stream's last event)."""
    error = state.last_error
    return JobSummary(
        job_id=state.job_id,
        datasource=state.datasource,
        interval=state.interval,
        phase=state.phase,
        terminal=state.terminal,
        attempt=state.attempt,
        max_attempts=state.max_attempts,
        uncounted=state.uncounted,
        task_id=state.task_id,
        classification=state.classification,
        reason=state.reason,
        rule=state.rule,
        last_error=error[:ERROR_EXCERPT] if error is not None else None,
        pipeline=state.pipeline,
        held=hold_reason(state, _NOTHING_PAUSED),
        sent_interval=state.submit_interval,
        sub_tasks=state.sub_tasks.m if state.sub_tasks is not None else None,
        sub_tasks_reason=sub_tasks_story(state.sub_tasks) if state.sub_tasks is not None else None,
        accepted_at=state.accepted_at,
        finished_at=state.finished_at,
        next_try_at=next_try_at(state),
        since=state.phase_since,
        version=state.version,
        position=position,
        changed_at=changed_at,
    )


def view_of(summary: JobSummary, held: str | None = None) -> JobView:
    """What users see of a job from its row; `held` overrides the recorded hold reason (a
    live job's, from memory)."""
    return JobView(
        job_id=summary.job_id,
        phase=cast(Phase, summary.phase),
        datasource=summary.datasource,
        interval=summary.interval,
        attempt=summary.attempt,
        max_attempts=summary.max_attempts,
        uncounted=summary.uncounted,
        task_id=summary.task_id,
        terminal=summary.terminal,
        classification=cast(Classification | None, summary.classification),
        reason=summary.reason,
        rule=summary.rule,
        last_error=summary.last_error,
        accepted_at=summary.accepted_at,
        finished_at=summary.finished_at,
        pipeline=summary.pipeline,
        held=held if held is not None else summary.held,
        sent_interval=summary.sent_interval,
        sub_tasks=summary.sub_tasks,
        sub_tasks_reason=summary.sub_tasks_reason,
        next_try_at=summary.next_try_at,
        since=summary.since,
    )


def folded_summaries(records: Iterable[Recorded]) -> dict[str, JobSummary]:
    """Every job stream among `records` (in seq order) folded, as `{stream id: summary}`
    stamped with its last event's seq and time: what the read model must hold.

    Raises:
        InvalidTransitionError: a stream does not fold (the log was edited).
    """
    states: dict[str, JobState] = {}
    tips: dict[str, tuple[int, float]] = {}
    for recorded in records:
        sid = recorded.stream_id
        if not sid.startswith(JOB_PREFIX):
            continue
        states[sid] = evolve(states.get(sid, JobState()), recorded.event)
        tips[sid] = (recorded.seq, recorded.recorded_at)
    return {
        sid: summary_of(state, position=tips[sid][0], changed_at=tips[sid][1])
        for sid, state in states.items()
    }


async def rebuild_summaries(log: EventLog) -> int:
    """Fill the read model from a fold of every job stream; returns the rows written.

    Meant for a log no orchestrator is writing to (boot, before any actor starts; the audit
    command, holding the log's lock): a commit between the fold and the write makes the log
    refuse it, and the fold starts again.

    Raises:
        InvalidTransitionError: a stream does not fold (the log was edited).
        EventLogError: as `EventLog.rebuild_summaries`.
    """
    for _ in range(_REBUILD_TRIES):
        through = await log.last_seq()
        records = [r async for r in log.read_all() if r.seq <= through]
        rows = folded_summaries(records)
        if await log.rebuild_summaries(list(rows.items()), through):
            return len(rows)
    raise EventLogUnavailableError(
        f"the log kept moving while its job summaries were rebuilt ({_REBUILD_TRIES} tries); "
        "rebuild them while no orchestrator writes to it"
    )
