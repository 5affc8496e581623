"""The watermark gate: batch jobs stay behind the streams that write their datasource.

A batch or compaction task that replaces an interval a streaming task still writes overlaps
it. So before an attempt's intent is recorded, the gate finds the supervisors writing the
job's datasource (the shared `SupervisorDirectory`, plus the job's `watermark_from`), reads
each one's watermark from live data (`specs.watermark.streaming_watermark` over its status,
spec, tasks' payloads and, when asked for, the Coordinator's coverage) and takes the
minimum. The job then goes as it is (wholly before the watermark aligned down to its segment
granularity), goes clipped to end there, or waits, as it does when no safe watermark exists
(never submitted on a guess). docs/watermark.md tells the rest.

One computation per datasource at a time, reused for `cache_s`, so a backfill of many jobs
costs one set of calls, not one per job; a supervisor's spec and a task's payload are cached
too (a task's `minimumMessageTime` is fixed when it is created).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
import structlog

from actors.job.actor import AttemptPlan, SubmissionGate
from actors.job.state import JobState
from actors.job.task_interval import segment_granularity, short_instant
from actors.ports import Clock, StreamingOverlord
from actors.streams.directory import SupervisorDirectory
from eventlog.events import WatermarkRecord
from overlord.errors import OverlordError, TaskNotFoundError
from specs.errors import IntervalError, WatermarkError
from specs.intervals import Interval, floor, format_instant, next_bucket
from specs.watermark import streaming_watermark

__all__ = ["Guard", "WatermarkGate", "WatermarkPolicy"]

logger = structlog.get_logger("druid_orch.watermark")


class WatermarkPolicy(msgspec.Struct, frozen=True, kw_only=True):
    # Off: jobs go as they did before the gate, beside live streams.
    enabled: bool = True
    # How long a datasource's watermark is reused by the jobs asking for it.
    cache_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 5.0
    # When a held job asks again, if no newer watermark woke it first.
    recheck_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 5.0
    # The check just before a POST takes a watermark no older than this.
    post_check_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 1.0
    # A supervisor's spec is read again after this, or when its tasks change.
    spec_ttl_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    # Assertions about the cluster `specs.watermark` may use (None: not asserted).
    max_start_delay_s: Annotated[float, msgspec.Meta(ge=0)] | None = None
    allowed_lateness_s: Annotated[float, msgspec.Meta(ge=0)] | None = None


class Guard(msgspec.Struct, frozen=True):
    """A datasource's streaming watermark: the minimum over `supervisors`."""

    at: datetime
    source: str
    detail: str
    supervisors: tuple[str, ...]


# What a datasource's streams say: a watermark, why none is safe, or None (no stream).
Reading = Guard | str | None


class _Decision(msgspec.Struct, frozen=True, kw_only=True):
    hold: str | None = None
    needed: datetime | None = None  # the watermark that would admit the held job
    interval: str | None = None
    record: WatermarkRecord | None = None


class WatermarkGate(SubmissionGate):
    def __init__(
        self,
        overlord: StreamingOverlord,
        directory: SupervisorDirectory,
        clock: Clock,
        policy: WatermarkPolicy = WatermarkPolicy(),
    ) -> None:
        self.overlord = overlord
        self.directory = directory
        self.clock = clock
        self.policy = policy
        self.held: dict[str, str] = {}  # job -> why it waits
        self.computations = 0  # watermarks computed (tests, metrics)
        self._readings: dict[tuple[str, str | None], tuple[float, Reading]] = {}
        self._locks: dict[tuple[str, str | None], asyncio.Lock] = {}
        self._waiters: dict[str, tuple[tuple[str, str | None], datetime, Callable[[], None]]] = {}
        self._specs: dict[str, tuple[float, frozenset[str], dict[str, Any]]] = {}
        self._tasks: dict[str, dict[str, dict[str, Any]]] = {}  # supervisor -> task -> payload

    # --- the gate the job actors consult (through `Admission`) --------------------------

    async def submit_delay(
        self, state: JobState, wake: Callable[[], None] | None = None
    ) -> float | None:
        if not self.policy.enabled or state.phase == "submitting":
            return None  # an intent is recorded: `recheck` guards its POST
        decision = await self._decide(state, self.policy.cache_s)
        job_id = state.job_id
        if decision.hold is None:
            self.forget(job_id)
            return None
        if self.held.get(job_id) != decision.hold:
            logger.info("job_waits_for_watermark", job_id=job_id, reason=decision.hold[:300])
        self.held[job_id] = decision.hold
        if wake is not None and decision.needed is not None:
            self._waiters[job_id] = (_key(state), decision.needed, wake)
        return self.policy.recheck_s

    async def plan(self, state: JobState) -> AttemptPlan:
        if not self.policy.enabled:
            return AttemptPlan()
        decision = await self._decide(state, self.policy.cache_s)
        if decision.hold is not None:  # it moved back since `submit_delay` let the job go
            self.held[state.job_id] = decision.hold
            return AttemptPlan(wait=self.policy.recheck_s)
        return AttemptPlan(interval=decision.interval, watermark=decision.record)

    async def recheck(self, state: JobState) -> str | None:
        if not self.policy.enabled:
            return None
        reading = await self.reading(
            state.datasource, state.watermark_from, self.policy.post_check_s
        )
        if reading is None:
            return None
        if isinstance(reading, str):
            return f"no safe streaming watermark for {state.datasource}: {reading}"
        granularity = segment_granularity(state.spec)
        limit = floor(reading.at, granularity) if granularity else reading.at
        text = state.submit_interval or state.interval
        try:
            if Interval.parse(text).end <= limit:
                return None
        except IntervalError as exc:
            return f"no safe streaming watermark for {state.datasource}: {exc}"
        return (
            f"the streaming watermark moved back to {short_instant(reading.at)} "
            f"(aligned {short_instant(limit)}): interval {text} is no longer wholly before it"
        )

    def forget(self, job_id: str) -> None:
        """The job no longer waits here (admitted, or ended)."""
        self.held.pop(job_id, None)
        self._waiters.pop(job_id, None)

    # --- deciding a job ---------------------------------------------------------------

    async def _decide(self, state: JobState, max_age_s: float) -> _Decision:
        datasource = state.datasource
        reading = await self.reading(datasource, state.watermark_from, max_age_s)
        if reading is None:
            return _Decision()
        if isinstance(reading, str):
            return _Decision(hold=f"no safe streaming watermark for {datasource}: {reading}")
        try:
            interval = Interval.parse(state.interval)
        except IntervalError as exc:
            return _Decision(hold=f"no safe streaming watermark for {datasource}: {exc}")
        granularity = segment_granularity(state.spec)
        # Unknown granularity: nothing to align a cut to, so the whole interval must be past.
        limit = floor(reading.at, granularity) if granularity else reading.at
        record = WatermarkRecord(
            at=format_instant(reading.at),
            aligned=format_instant(limit) if granularity else None,
            source=reading.source,
            detail=reading.detail,
            supervisors=reading.supervisors,
        )
        if interval.end <= limit:
            return _Decision(record=record)
        if granularity and interval.start < limit:
            return _Decision(interval=str(Interval(interval.start, limit)), record=record)
        needed = interval.end
        if granularity:
            needed = min(next_bucket(interval.start, granularity), interval.end)
        hold = (
            f"waiting for the streaming watermark (now {short_instant(reading.at)}) "
            f"to pass {short_instant(needed)}"
        )
        return _Decision(hold=hold, needed=needed)

    # --- reading a datasource's watermark ----------------------------------------------

    async def reading(self, datasource: str, extra: str | None, max_age_s: float) -> Reading:
        """The datasource's watermark, computed at most `max_age_s` ago (one at a time)."""
        key = (datasource, extra)
        cached = self._readings.get(key)
        if cached is not None and self.clock() - cached[0] < max_age_s:
            return cached[1]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._readings.get(key)
            if cached is not None and self.clock() - cached[0] < max_age_s:
                return cached[1]  # computed by another job while this one waited
            reading = await self._compute(datasource, extra)
            self._readings[key] = (self.clock(), reading)
        if isinstance(reading, Guard):
            self._wake(key, reading.at)
        return reading

    def _wake(self, key: tuple[str, str | None], at: datetime) -> None:
        for job_id, (waits_on, needed, wake) in list(self._waiters.items()):
            if waits_on == key and needed <= at:
                del self._waiters[job_id]
                wake()

    async def _compute(self, datasource: str, extra: str | None) -> Reading:
        self.computations += 1
        try:
            ids = set(await self.directory.writing(datasource))
        except OverlordError as exc:
            return f"the Overlord's supervisors could not be listed ({exc})"
        if extra:
            ids.add(extra)
        if not ids:
            return None
        lowest: Guard | None = None
        for supervisor_id in sorted(ids):
            try:
                mark = await self._supervisor_watermark(supervisor_id, datasource)
            except WatermarkError as exc:
                return f"supervisor {supervisor_id}: {exc} (rule {exc.rule})"
            except OverlordError as exc:
                return f"supervisor {supervisor_id} could not be read ({exc})"
            if lowest is None or mark.at < lowest.at:
                lowest = mark
        assert lowest is not None
        guard = Guard(lowest.at, lowest.source, lowest.detail, tuple(sorted(ids)))
        logger.debug(
            "streaming_watermark",
            datasource=datasource,
            at=format_instant(guard.at),
            source=guard.source,
            supervisors=list(guard.supervisors),
        )
        return guard

    async def _supervisor_watermark(self, supervisor_id: str, datasource: str) -> Guard:
        status = msgspec.to_builtins(await self.overlord.supervisor_status(supervisor_id))
        payload = status.get("payload") or {}
        task_ids = frozenset(
            str(task["id"])
            for task in [*payload.get("activeTasks", []), *payload.get("publishingTasks", [])]
        )
        spec = await self._spec(supervisor_id, task_ids)
        payloads = await self._task_payloads(supervisor_id, task_ids)
        policy = self.policy
        coverage: Mapping[str, Any] | None = None
        if policy.allowed_lateness_s is not None:
            found = await self.overlord.datasource_coverage(datasource)
            coverage = msgspec.to_builtins(found) if found is not None else None
        mark = streaming_watermark(
            status,
            supervisor_spec=spec,
            task_payloads=payloads,
            coverage=coverage,
            max_start_delay=_seconds(policy.max_start_delay_s),
            allowed_lateness=_seconds(policy.allowed_lateness_s),
        )
        return Guard(mark.at, mark.source, mark.detail, (supervisor_id,))

    async def _spec(self, supervisor_id: str, task_ids: frozenset[str]) -> dict[str, Any]:
        # A changed spec restarts the supervisor's tasks: new task ids mean read it again.
        cached = self._specs.get(supervisor_id)
        now = self.clock()
        if (
            cached is not None
            and cached[1] == task_ids
            and now - cached[0] < self.policy.spec_ttl_s
        ):
            return cached[2]
        spec = await self.overlord.supervisor_spec(supervisor_id)
        self._specs[supervisor_id] = (now, task_ids, spec)
        return spec

    async def _task_payloads(
        self, supervisor_id: str, task_ids: frozenset[str]
    ) -> list[dict[str, Any]]:
        """The payloads of the supervisor's current tasks; only the new ones are read."""
        known = self._tasks.get(supervisor_id, {})
        current: dict[str, dict[str, Any]] = {}
        for task_id in sorted(task_ids):
            payload = known.get(task_id)
            if payload is None:
                try:
                    payload = await self.overlord.task_spec(task_id)
                except TaskNotFoundError:
                    continue  # ended meanwhile: the rule, short of its bound, says what then
            current[task_id] = payload
        self._tasks[supervisor_id] = current  # ended tasks are dropped
        return list(current.values())


def _key(state: JobState) -> tuple[str, str | None]:
    return (state.datasource, state.watermark_from)


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)
