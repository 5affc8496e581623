"""The one writer of job streams: decide, fold, append, and settle a lost or raced write.

Every change to a job's stream goes through `JobStreams.record`, whoever asks for it (the
job's actor, the supervisor recording a crash, the orchestrator accepting or retrying a
job), so the answer to a conflict or to a writer lost with the append in flight is given in
one place, and every listener hears of every recorded transition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from actors.job.evolve import evolve, fold
from actors.job.fsm import decide
from actors.job.messages import Command
from actors.job.state import STATE_SCHEMA_VERSION, JobState
from actors.job.sub_tasks import set_sub_tasks
from actors.job.summary import summary_of
from actors.job.task_interval import set_interval
from actors.recording import record_decision
from actors.stream_names import JOB_PREFIX, job_of_stream, job_stream
from eventlog import EventLog
from eventlog.events import Event, spec_dict, spec_raw
from eventlog.records import Recorded
from eventlog.replay import StreamFolder

# How job streams fold: from a current snapshot plus its tail. A stale or unreadable snapshot
# is ignored, the stream refolded from its first event, and the snapshot rewritten.
JOB_FOLDER: StreamFolder[JobState] = StreamFolder(
    initial=JobState,
    evolve=evolve,
    state_type=JobState,
    schema_version=STATE_SCHEMA_VERSION,
    snapshot_format="json",  # JobState holds the spec as raw JSON
)


class Transition(msgspec.Struct, frozen=True):
    """What one `record` wrote: the job's state after it, and the events (none when the
    command changed nothing, or another writer had recorded it first)."""

    state: JobState
    events: Sequence[Event] = ()
    append_s: float = 0.0  # from the append's call to its commit (or to finding it landed)

    @property
    def job_id(self) -> str:
        return self.state.job_id


Listener = Callable[[Transition], None]


async def load_state(event_log: EventLog, job_id: str) -> JobState:
    """Fold a job's stream, starting from its snapshot when there is a current one."""
    return (await JOB_FOLDER.load(event_log, job_stream(job_id))).state


class JobStreams:
    """Reads and writes job streams, and tells its listeners of every recorded transition."""

    def __init__(self, event_log: EventLog) -> None:
        self.log = event_log
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` after every recorded transition; returns what stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def open_job_versions(self) -> dict[str, int]:
        """The jobs whose streams are open (those a boot resumes), with their versions."""
        return {job_of_stream(s): v for s, v in await self.log.open_streams(JOB_PREFIX)}

    async def all_job_ids(self) -> list[str]:
        return [job_of_stream(sid) for sid, _v, _c in await self.log.all_streams(JOB_PREFIX)]

    async def load(self, job_id: str) -> JobState:
        return await load_state(self.log, job_id)

    async def history(self, job_id: str) -> list[Recorded]:
        return await self.log.read_stream(job_stream(job_id))

    async def save_snapshot(self, state: JobState) -> None:
        await self.log.save_snapshot(
            job_stream(state.job_id), state.version, STATE_SCHEMA_VERSION, JOB_FOLDER.encode(state)
        )

    async def record(
        self,
        job_id: str,
        command: Command,
        *,
        state: JobState | None = None,
        tries: int = 3,
        reopen: bool = False,
    ) -> Transition:
        """Decide `command` on the job's state and append what it causes.

        `state` is the caller's current state, used for the first try instead of reading
        the stream. A conflict decides again on the stream as it now is; a lost writer is
        settled by reading the stream back, and retried only if the write did not land.

        Raises:
            ConcurrencyConflictError: others kept writing; `tries` decisions all came late.
            WriterLostError: the last try's write was lost, and did not land.
            EventLogUnavailableError, StreamArchivedError: as `EventLog.append`.
        """

        def options(new: JobState) -> dict[str, Any]:
            return {
                "close_stream": new.terminal,
                "reopen_stream": reopen,
                "summary": summary_of(new),
            }

        new, events, append_s = await record_decision(
            self.log,
            job_stream(job_id),
            state,
            load=lambda: self.load(job_id),
            decide=lambda current: decide(current, command),
            fold=fold,
            tries=tries,
            options=options,
        )
        if not events:
            return Transition(new)
        recorded = Transition(new, events, append_s)
        for listener in list(self._listeners):
            listener(recorded)
        return recorded


def task_body(
    spec: msgspec.Raw, task_id: str, interval: str | None = None, sub_tasks: int | None = None
) -> msgspec.Raw:
    """The JSON to POST for one attempt: the stored spec with its `id` set to `task_id`, its
    interval replaced by `interval` if given (the attempt's, clipped at the streaming
    watermark: `actors.job.task_interval.set_interval`), and its `maxNumConcurrentSubTasks`
    by `sub_tasks` if given (chosen from the free slots: `actors.job.sub_tasks`).

    A compiled spec has no `id`, so the id goes in front of its bytes; the spec is never
    decoded into dicts (5 KB for a 1 KB spec, held by every attempt waiting to be sent)
    unless its interval or its sub-tasks must change.
    """
    if interval is not None or sub_tasks is not None:
        changed = spec_dict(spec)
        changed["id"] = task_id
        if interval is not None:
            set_interval(changed, interval)
        if sub_tasks is not None:
            set_sub_tasks(changed, sub_tasks)
        return spec_raw(changed)
    body = bytes(spec)
    try:
        has_id = _top_level_id(body).id is not msgspec.UNSET
    except (msgspec.DecodeError, msgspec.ValidationError):
        has_id = True  # not an object: spec_dict below says what is wrong
    if not has_id and body.startswith(b"{"):
        rest = body[1:]
        separator = b"" if rest.startswith(b"}") else b","
        return msgspec.Raw(b'{"id":' + msgspec.json.encode(task_id) + separator + rest)
    task = spec_dict(spec)
    task["id"] = task_id
    return spec_raw(task)


def attempt_body(state: JobState) -> msgspec.Raw:
    """The JSON to POST for the job's current attempt: as its intent recorded it (interval
    and m), never decided afresh, so every POST of one task id is the same task."""
    assert state.task_id is not None, "no attempt has been intended"
    m = state.sub_tasks.m if state.sub_tasks is not None else None
    return task_body(state.spec, state.task_id, state.submit_interval, m)


class _TopLevelId(msgspec.Struct):
    id: Any | msgspec.UnsetType = msgspec.UNSET  # UNSET: absent (a null id is present)


_top_level_id = msgspec.json.Decoder(_TopLevelId).decode
