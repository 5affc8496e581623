"""What a standby keeps folded while another replica leads, so that taking over costs the
replay of a short tail rather than a fold of every live stream (docs/ha.md).

A `WarmStart` is primed once from the log (every open job stream, the last event of every
breaker stream), then follows the log's commits (`EventLog.subscribe`: LISTEN/NOTIFY on
PostgreSQL) and folds each new event into the state it has. It never decides anything: it is
a cache of folds, and a lossy one by design. The boot that takes over (`Recovery.boot`,
`Breakers.restore`) compares each cached state's version with the stream's version in the
log and folds again any stream whose versions differ, so a gap (a stream reopened by a
retry after the standby dropped it, an event the fold refused) costs a read, never a wrong
state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from actors.job.evolve import evolve
from actors.job.state import JobState
from actors.job.stream import load_state
from actors.stream_names import BREAKER_PREFIX, JOB_PREFIX, job_of_stream
from eventlog import EventLog
from eventlog.event_base import Event
from eventlog.records import Recorded
from eventlog.replay import last_event

logger = structlog.get_logger("druid_orch.warm_start")


def _no(_: WarmStart) -> None:
    return None


@dataclass(slots=True)
class WarmStart:
    """Live job states and breaker streams' last events, as of log position `position`."""

    jobs: dict[str, JobState] = field(default_factory=dict)
    # A breaker stream's version and its last event: all `Breakers.restore` needs of it.
    breakers: dict[str, tuple[int, Event]] = field(default_factory=dict)
    position: int = 0
    primed: bool = False

    async def prime(self, log: EventLog, *, concurrency: int = 32) -> None:
        """Fold every open job stream and read every breaker stream's last event.

        The head is read first: an event committed while the streams are read is then met
        again by `follow`, and skipped there by its version.
        """
        self.position = await log.last_seq()
        opened = await log.open_streams(JOB_PREFIX)
        limit = asyncio.Semaphore(concurrency)

        async def one(stream_id: str) -> None:
            async with limit:
                job_id = job_of_stream(stream_id)
                state = await load_state(log, job_id)
                if not state.terminal:  # closed since `open_streams` answered
                    self.jobs[job_id] = state

        async with asyncio.TaskGroup() as tg:
            for stream_id, _version in opened:
                tg.create_task(one(stream_id))
        for stream_id, version, _closed in await log.all_streams(BREAKER_PREFIX):
            last = await last_event(log, stream_id, version)
            if last is not None:
                self.breakers[stream_id] = (last.version, last.event)
        self.primed = True

    def apply(self, recorded: Recorded) -> None:
        """Fold one committed event into what is cached (events already folded are skipped)."""
        self.position = max(self.position, recorded.seq)
        stream_id = recorded.stream_id
        if stream_id.startswith(BREAKER_PREFIX):
            known = self.breakers.get(stream_id)
            if known is None or recorded.version > known[0]:
                self.breakers[stream_id] = (recorded.version, recorded.event)
            return
        if not stream_id.startswith(JOB_PREFIX):
            return
        job_id = job_of_stream(stream_id)
        state = self.jobs.get(job_id)
        if state is None:
            if recorded.version != 1:
                return  # a stream reopened after it was dropped: the boot folds it
            state = JobState()
        if recorded.version <= state.version:
            return
        if recorded.version != state.version + 1:
            self.jobs.pop(job_id, None)  # a gap: the boot folds it from the log
            return
        try:
            state = evolve(state, recorded.event)
        except Exception as exc:  # a cache: whatever the fold refuses, the boot refolds
            logger.warning("warm_fold_refused", job_id=job_id, error=str(exc))
            self.jobs.pop(job_id, None)
            return
        if state.terminal:
            self.jobs.pop(job_id, None)
        else:
            self.jobs[job_id] = state

    async def follow(self, log: EventLog, on_primed: Callable[[WarmStart], None] = _no) -> None:
        """Prime (once), then fold every commit as it lands, until cancelled or the log closes."""
        if not self.primed:
            await self.prime(log)
            on_primed(self)
        async for recorded in log.subscribe(self.position):
            self.apply(recorded)

    async def catch_up(self, log: EventLog) -> int:
        """Fold what committed since `position` (the tail a new leader replays); how many."""
        folded = 0
        async for recorded in log.read_all(self.position):
            self.apply(recorded)
            folded += 1
        return folded

    def job(self, job_id: str, version: int) -> JobState | None:
        """The cached state of `job_id` if it is at `version` (the log's), else None."""
        state = self.jobs.get(job_id)
        return state if state is not None and state.version == version else None

    def breaker(self, stream_id: str, version: int) -> Event | None:
        known = self.breakers.get(stream_id)
        return known[1] if known is not None and known[0] == version else None


async def followed(
    log: EventLog, warm: WarmStart, on_primed: Callable[[WarmStart], None] = _no
) -> None:
    """`warm.follow(log)`, outliving any failure (primed afresh a second later): a standby's
    cache is best effort, and a takeover reads whatever it missed."""
    while True:
        try:
            await warm.follow(log, on_primed)
            return
        except Exception as exc:  # a cache: whatever fails, it is primed again
            logger.warning("warm_follow_failed", error=str(exc) or repr(exc))
            warm.primed = False
            warm.jobs.clear()
            warm.breakers.clear()
            await asyncio.sleep(1.0)
