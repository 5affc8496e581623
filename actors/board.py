"""The orchestrator's view of its jobs: every job's state as last recorded, and who waits on it.

It hears every recorded transition (a `JobStreams` listener), keeps the states and event
counts, feeds the slot gate and the datasource breakers, raises an alert for a dead job, and
wakes the callers watching or waiting on the job.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from typing import Any

from actors.errors import ActorStoppedError
from actors.job.actor import GetState
from actors.job.state import JobState
from actors.job.stream import JobStreams, Transition
from actors.job.summary import view_of
from actors.job.view import SUBMIT_PHASES, JobUpdate, JobView, hold_reason
from actors.runtime import ActorRef
from actors.supervision.alerts import Alert, AlertSink
from actors.supervision.breakers import Breakers, plain_cause
from actors.supervision.slots import SlotBudget
from actors.supervision.watermark_gate import WatermarkGate
from eventlog.events import FailureClassified, JobDied


class JobBoard:
    def __init__(
        self,
        streams: JobStreams,
        breakers: Breakers,
        slots: SlotBudget,
        alerts: AlertSink,
        watermark: WatermarkGate | None = None,
    ) -> None:
        self.streams = streams
        self.breakers = breakers
        self.slots = slots
        self.watermark = watermark
        self.alerts = alerts
        self.states: dict[str, JobState] = {}
        self.counters: Counter[str] = Counter()
        self._watchers: dict[str, set[asyncio.Queue[JobUpdate | None]]] = defaultdict(set)
        self._terminal_waiters: dict[str, list[asyncio.Future[JobState]]] = defaultdict(list)

    def take(self, recorded: Transition) -> None:
        state, events = recorded.state, recorded.events
        self.states[state.job_id] = state
        self.slots.observe(state)
        if self.watermark is not None and state.phase not in SUBMIT_PHASES:
            self.watermark.forget(state.job_id)
        excerpt: dict[str, Any] | None = None
        for event in events:
            self.counters[type(event).__struct_config__.tag] += 1  # type: ignore[index]
            if isinstance(event, FailureClassified):
                excerpt = event.report_excerpt
                if event.classification == "structural":
                    self.breakers.record_structural(state.datasource, event.reason)
            if isinstance(event, JobDied):
                self.alerts.raise_alert(
                    Alert(
                        job_id=state.job_id,
                        datasource=state.datasource,
                        interval=state.interval,
                        task_id=state.task_id,
                        classification=state.classification,
                        rule=event.rule or state.rule,
                        reason=event.reason,
                        report_excerpt=excerpt,
                        at=event.at,
                    )
                )
        watchers = self._watchers.get(state.job_id)
        if watchers:  # a view per transition only for jobs someone follows: this is hot
            tags = [str(type(e).__struct_config__.tag) for e in events]
            update = JobUpdate(self.view(state), tags)
            for q in watchers:
                q.put_nowait(update)
                if state.terminal:
                    q.put_nowait(None)
        if state.terminal:
            for fut in self._terminal_waiters.pop(state.job_id, []):
                if not fut.done():
                    fut.set_result(state)
            # Memory holds live jobs only: the log's summary row answers for a finished one.
            self.states.pop(state.job_id, None)

    def view(self, state: JobState) -> JobView:
        breakers = self.breakers
        closed = breakers.overlord.phase == "closed"
        failure = breakers.last_error
        held = hold_reason(
            state,
            breakers.paused,
            False if closed else (plain_cause(failure[1]) if failure else True),
            slots=self.slots.held.get(state.job_id),
            watermark=self.watermark.held.get(state.job_id) if self.watermark else None,
        )
        return JobView.of(state, held)

    async def settled(self, ref: ActorRef[Any] | None, job_id: str) -> JobView:
        """The job's view once its actor has handled what was just sent to it."""
        if ref is not None:
            # An ask queues behind the commands already sent, so its answer reflects them.
            with contextlib.suppress(ActorStoppedError):
                state = await ref.ask(GetState(), timeout=None)
                if isinstance(state, JobState):
                    return self.view(state)
        state = self.states.get(job_id)
        if state is None:
            found = await self.streams.log.job_summary(job_id)
            if found is not None:
                return view_of(found)
            state = await self.streams.load(job_id)  # "new": never recorded
        return self.view(state)

    async def terminal(self, job_id: str, timeout: float | None) -> JobState:
        return await asyncio.wait_for(self.terminal_future(job_id), timeout)

    def terminal_future(self, job_id: str) -> asyncio.Future[JobState]:
        """A future the job's terminal state resolves (cancel it to stop waiting)."""
        fut: asyncio.Future[JobState] = asyncio.get_running_loop().create_future()
        self._terminal_waiters[job_id].append(fut)

        def forget(done: asyncio.Future[JobState]) -> None:
            # A waiter that gave up must not keep the job's entry (memory: live jobs only).
            waiters = self._terminal_waiters.get(job_id)
            if waiters is not None and done in waiters:
                waiters.remove(done)
                if not waiters:
                    del self._terminal_waiters[job_id]

        fut.add_done_callback(forget)
        return fut

    async def updates(self, job_id: str) -> AsyncIterator[JobUpdate]:
        queue: asyncio.Queue[JobUpdate | None] = asyncio.Queue()
        self._watchers[job_id].add(queue)
        try:
            while True:
                update = await queue.get()
                if update is None:
                    return
                yield update
        finally:
            queues = self._watchers.get(job_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._watchers[job_id]

    def close(self) -> None:
        """Wake every waiter and end every watch: the orchestrator is stopping."""
        for waiters in self._terminal_waiters.values():
            for fut in waiters:
                if not fut.done():
                    fut.cancel()
        for queues in self._watchers.values():
            for q in queues:
                q.put_nowait(None)
