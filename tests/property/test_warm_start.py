"""A standby's warm cache against the FSM: whatever the leader records, however the standby's
view of it is delivered (primed mid-stream, events met twice, events missed), the cache
never holds a state that is not the fold of the stream up to the version it claims, and with
every event delivered it offers the state of every live job.

The job FSM's state machine (`test_task_fsm_model.JobMachine`) drives the leader's commands
(retries of dead jobs, which reopen a dropped stream, among them); every event it records is
handed to a `WarmStart` as the log would deliver it, and rules prime the cache afresh, deliver
a batch again, or lose one. The invariant compares the cache with `fold(events)`, the same
fold from scratch a cold boot makes.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from actors.job.evolve import fold
from actors.job.messages import Command
from actors.stream_names import job_stream
from actors.warm_start import WarmStart
from eventlog.records import Recorded
from tests.property.test_task_fsm_model import JOB, JobMachine


class WarmJobMachine(JobMachine):
    def __init__(self) -> None:
        super().__init__()
        self.warm = WarmStart(primed=True)
        self.recorded: list[Recorded] = []
        self.lossless = True  # every event delivered since the cache was last primed
        self.ended_since_prime = False  # dropped by the cache, maybe reopened since
        self.to_lose = 0

    def apply(self, command: Command) -> None:
        before = len(self.events)
        super().apply(command)
        for version, event in enumerate(self.events[before:], start=before + 1):
            # One job: its stream's versions are the log's positions.
            one = Recorded(version, job_stream(JOB), version, self.now, event)
            self.recorded.append(one)
            if self.to_lose:
                self.to_lose -= 1
                continue
            self.warm.apply(one)
            if fold(self.events[:version]).terminal:
                self.ended_since_prime = True

    @rule()
    def the_standby_primes_afresh(self) -> None:
        # As `WarmStart.prime`: the stream folded as it is now, if it is open.
        self.warm = WarmStart(primed=True, position=len(self.recorded))
        state = fold(self.events)
        if not state.terminal:
            self.warm.jobs[JOB] = state
        self.lossless, self.ended_since_prime, self.to_lose = True, state.terminal, 0

    @rule(back=st.integers(1, 6))
    def events_are_met_again(self, back: int) -> None:
        # A prime's overlap with the follow, or a catch-up read after a reconnect.
        for recorded in self.recorded[-back:]:
            self.warm.apply(recorded)

    @rule(lost=st.integers(1, 3))
    def the_next_events_are_lost(self, lost: int) -> None:
        # Not what the log does, but what the boot's version check must survive: events
        # that reach the stream and never the cache.
        self.lossless = False
        self.to_lose = lost

    @invariant()
    def the_cache_offers_only_the_fold_of_the_stream(self) -> None:
        if not self.events:
            return
        # Whatever it holds is the fold of the stream up to the version it says, so the
        # boot, which takes a state only at the log's version, takes the log's state.
        cached = self.warm.jobs.get(JOB)
        if cached is not None:
            assert cached == fold(self.events[: cached.version])

    @invariant()
    def with_every_event_delivered_a_live_job_is_warm(self) -> None:
        if not self.events or not self.lossless:
            return
        folded = fold(self.events)
        if folded.terminal:
            assert JOB not in self.warm.jobs
        elif not self.ended_since_prime:
            assert self.warm.job(JOB, folded.version) == folded


TestWarmJobMachine = WarmJobMachine.TestCase
