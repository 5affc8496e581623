"""The status poller: one actor watches every live Druid task for every job.

Each poll round asks about the tasks that are due, in bulk:

1. `POST /taskStatus` with the due ids, in chunks (`chunk` ids per request), with no
   runner state;
2. `GET /tasks?max=0` at most every `phase_refresh_s`, when a due task is RUNNING: its
   runner state tells WAITING / PENDING / RUNNING apart, which phase deadlines need;
3. an id missing from the bulk answer is confirmed with `GET /task/{id}/status` before it
   is reported lost (404). These reads are `actors.task_status`, shared with reconciliation.

So a round costs ceil(due / chunk) + at most 1 requests (+ one per missing id), however
many tasks are watched, and rounds start at least `min_round_gap_s` apart, so tasks that
fall due close together share one. Cadence is per task: the first poll comes after `first_delay_s`,
and while nothing changes the delay grows by `factor` up to `ceiling_s`, with jitter so that
tasks submitted together spread out; a change resets it. Watchers hear only about changes.
While the Overlord is unreachable, due tasks back off and nothing is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
import time
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import structlog

from actors.errors import ActorStoppedError, BreakerOpenError, MailboxFullError
from actors.job.messages import RecordLost, RecordStatus
from actors.ports import Clock, Overlord
from actors.runtime import Actor, ActorRef
from actors.task_status import TaskView, active_tasks, read_statuses, runner_states
from overlord.errors import OverlordError, TaskNotFoundError
from overlord.models import TERMINAL_STATUSES
from overlord.redaction import redact_text

logger = structlog.get_logger("druid_orch.poller")


class PollerConfig(msgspec.Struct, frozen=True, kw_only=True):
    # The bounds are checked when the configuration is decoded. A zero delay or a factor
    # below 1 would poll (or retry an unreachable Overlord) in a tight loop, and a jitter
    # above 1 could schedule a poll in the past.
    first_delay_s: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    ceiling_s: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    factor: Annotated[float, msgspec.Meta(ge=1)] = 2.0
    jitter: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.2
    chunk: Annotated[int, msgspec.Meta(ge=1)] = 500
    phase_refresh_s: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    # Rounds start at least this far apart, so tasks falling due at jittered times share a
    # round (and its requests) instead of each costing a request of its own.
    min_round_gap_s: Annotated[float, msgspec.Meta(ge=0)] = 0.5


@dataclass(slots=True)
class Watch:
    task_id: str
    subscriber: ActorRef[Any]


@dataclass(slots=True)
class Unwatch:
    task_id: str


@dataclass(slots=True)
class _Entry:
    subscriber: ActorRef[Any]
    next_due: float
    interval: float
    last: tuple[str, str | None] | None = None


@dataclass(slots=True)
class PollerStats:
    rounds: int = 0
    requests: int = 0
    bulk_requests: int = 0
    single_requests: int = 0
    listing_requests: int = 0
    changes: int = 0
    lost: int = 0
    errors: int = 0
    last_round_s: float = 0.0


class StatusPoller(Actor[Watch | Unwatch]):
    def __init__(
        self,
        overlord: Overlord,
        *,
        config: PollerConfig = PollerConfig(),
        clock: Clock = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.overlord = overlord
        self.config = config
        self.clock = clock
        self.rng = rng or random.Random()
        self.entries: dict[str, _Entry] = {}
        self.stats = PollerStats()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        # (due time, tie-breaker, task id); an item whose entry has moved on is stale and
        # skipped when it surfaces, so rescheduling is a push, never a search.
        self._heap: list[tuple[float, int, str]] = []
        self._pushes = 0
        self._runner: dict[str, str] = {}
        self._runner_at = float("-inf")
        self._backoff = 0.0

    async def on_start(self) -> None:
        self._loop_task = asyncio.create_task(self._poll_forever(), name="status-poller")

    async def on_stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task

    async def receive(self, message: Watch | Unwatch) -> None:
        if isinstance(message, Watch):
            entry = self.entries.get(message.task_id)
            if entry is None:
                first = self.config.first_delay_s
                entry = _Entry(message.subscriber, 0.0, first)
                self.entries[message.task_id] = entry
                self._schedule(message.task_id, entry, self.clock() + self._jittered(first))
                self._wake.set()
            else:
                entry.subscriber = message.subscriber
                entry.last = None  # a restarted actor wants to hear the current status again
        else:
            self.entries.pop(message.task_id, None)

    @property
    def watched(self) -> int:
        return len(self.entries)

    def _schedule(self, task_id: str, entry: _Entry, due: float) -> None:
        entry.next_due = due
        self._pushes += 1
        heapq.heappush(self._heap, (due, self._pushes, task_id))

    def _earliest(self) -> float | None:
        """The next due time, dropping stale heap items on the way."""
        heap = self._heap
        while heap:
            due, _, task_id = heap[0]
            entry = self.entries.get(task_id)
            if entry is not None and entry.next_due == due:
                return due
            heapq.heappop(heap)
        return None

    def _take_due(self, now: float) -> list[str]:
        due: list[str] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, _, task_id = heapq.heappop(heap)
            entry = self.entries.get(task_id)
            if entry is not None and entry.next_due == when:
                due.append(task_id)
        return due

    def _jittered(self, delay: float) -> float:
        j = self.config.jitter
        return delay * self.rng.uniform(1 - j, 1 + j)

    async def _poll_forever(self) -> None:
        while True:
            now = self.clock()
            if not self.entries:
                self._wake.clear()
                await self._wake.wait()
                continue
            earliest = self._earliest()
            if earliest is None:  # cannot happen; if it does, put every task back on
                logger.error("poller_schedule_lost", watched=len(self.entries))
                for task_id, entry in self.entries.items():
                    self._schedule(task_id, entry, now)
                continue
            if earliest > now:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=earliest - now)
                continue
            started = time.perf_counter()
            try:
                await self.poll_round()
            except Exception as exc:  # a bug here must not stop all polling; log it loudly
                self.stats.errors += 1
                logger.exception("poll_round_failed", error=repr(exc))
                await asyncio.sleep(self.config.first_delay_s)
            self.stats.last_round_s = time.perf_counter() - started
            await asyncio.sleep(max(0.0, self.config.min_round_gap_s - self.stats.last_round_s))

    async def poll_round(self) -> None:
        """Ask about every due task once; tell subscribers what changed."""
        now = self.clock()
        due = self._take_due(now)
        if not due:
            return
        self.stats.rounds += 1
        try:
            await self._round(due, now)
        finally:
            # Whatever went wrong half-way, no task may drop off the schedule.
            for task_id in due:
                entry = self.entries.get(task_id)
                if entry is not None and entry.next_due <= now:
                    self._schedule(task_id, entry, now + self._jittered(self.config.first_delay_s))

    async def _round(self, due: list[str], now: float) -> None:
        try:
            statuses = await self._bulk(due)
            running_due = [t for t in due if (v := statuses.get(t)) and v.status == "RUNNING"]
            if running_due and now - self._runner_at >= self.config.phase_refresh_s:
                await self._refresh_runner_states()
        except OverlordError as exc:
            self._back_off(due, exc)
            return
        self._backoff = 0.0
        for task_id in due:
            entry = self.entries.get(task_id)
            if entry is None:
                continue
            seen = statuses.get(task_id)
            if seen is None:
                await self._confirm_missing(task_id, entry)
                continue
            if seen.status == "RUNNING":
                seen = msgspec.structs.replace(seen, runner=self._runner.get(task_id))
            self._observe(task_id, entry, seen)

    async def _bulk(self, due: list[str]) -> dict[str, TaskView]:
        chunks = -(-len(due) // self.config.chunk)  # counted even if the round fails
        self.stats.requests += chunks
        self.stats.bulk_requests += chunks
        return (await read_statuses(self.overlord, due, self.config.chunk)).views

    async def _refresh_runner_states(self) -> None:
        self.stats.requests += 1
        self.stats.listing_requests += 1
        rows = await active_tasks(self.overlord)
        self._runner = {tid: runner or "WAITING" for tid, runner in runner_states(rows).items()}
        self._runner_at = self.clock()

    async def _confirm_missing(self, task_id: str, entry: _Entry) -> None:
        self.stats.requests += 1
        self.stats.single_requests += 1
        try:
            st = await self.overlord.status(task_id)
        except TaskNotFoundError:
            self.stats.lost += 1
            self.entries.pop(task_id, None)
            self._deliver(
                task_id,
                entry,
                RecordLost(
                    at=self.clock(),
                    task_id=task_id,
                    evidence="missing from POST /taskStatus and GET /task/{id}/status "
                    "answered 404: the Overlord does not know the task",
                ),
            )
            return
        except OverlordError as exc:
            self._back_off([task_id], exc)
            return
        self._observe(task_id, entry, TaskView.of(st))

    def _observe(self, task_id: str, entry: _Entry, seen: TaskView) -> None:
        runner = seen.runner if seen.status == "RUNNING" else None
        key = (seen.status, runner)
        now = self.clock()
        if key != entry.last:
            entry.last = key
            entry.interval = self.config.first_delay_s
            self.stats.changes += 1
            self._deliver(
                task_id,
                entry,
                RecordStatus(
                    at=now,
                    task_id=task_id,
                    status=seen.status,
                    runner_status=runner,
                    duration_ms=seen.duration_ms,
                    # Druid's errorMsg can quote an input URI; it is recorded for good.
                    error_msg=redact_text(seen.error_msg) if seen.error_msg else seen.error_msg,
                    location=seen.location,
                ),
            )
        else:
            entry.interval = min(self.config.ceiling_s, entry.interval * self.config.factor)
        if seen.status in TERMINAL_STATUSES:
            self.entries.pop(task_id, None)
            self._runner.pop(task_id, None)
        elif task_id in self.entries:
            self._schedule(task_id, entry, now + self._jittered(entry.interval))

    def _deliver(self, task_id: str, entry: _Entry, message: RecordStatus | RecordLost) -> None:
        try:
            entry.subscriber.tell(message)
        except ActorStoppedError:
            self.entries.pop(task_id, None)
        except MailboxFullError:
            entry.last = None  # tell it again next round (its next due time is set after this)

    def _back_off(self, task_ids: list[str], exc: OverlordError) -> None:
        self.stats.errors += 1
        self._backoff = min(
            self.config.ceiling_s * 4, max(self.config.first_delay_s, self._backoff * 2)
        )
        # While the breaker is open every round fails by design: not worth a warning each time.
        level = logger.debug if isinstance(exc, BreakerOpenError) else logger.warning
        level(
            "poll_failed", error=str(exc), retry_in_s=round(self._backoff, 2), tasks=len(task_ids)
        )
        later = self.clock() + self._jittered(self._backoff)
        for task_id in task_ids:
            entry = self.entries.get(task_id)
            if entry is not None and entry.next_due < later:
                self._schedule(task_id, entry, later)
