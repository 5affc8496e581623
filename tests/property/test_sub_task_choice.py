"""Sub-tasks chosen at admission, under any sequence of capacities, crashes and outcomes:

* an attempt's task id and m are those of its first intent: every POST of a task id, before
  or after any number of restarts, sends the m that intent recorded, and the id never
  depends on m;
* a job's slot claim follows its recorded m;
* the sum of claims never exceeds the capacity last seen when a job is admitted beside
  others (a job admitted while nothing is claimed may always go); with `queue_sequential`,
  sequential attempts queued in Druid while no claim runs sub-tasks may reach twice it.

The slot budget and the job FSM are driven directly, the log being each job's event list and
a crash a refold of every list into a fresh budget, as boot does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from hypothesis import example, given, settings
from hypothesis import strategies as st

from actors.job.evolve import fold
from actors.job.fsm import decide
from actors.job.messages import (
    Accept,
    BeginAttempt,
    Command,
    RecordAnalysis,
    RecordStatus,
    RecordSubmitted,
)
from actors.job.state import DRUID_LIVE, JobState
from actors.job.stream import attempt_body
from actors.supervision.slots import HOLDING, SlotBudget, SlotPolicy
from eventlog.events import Event, spec_dict, spec_raw
from overlord.models import TotalWorkerCapacity
from specs.capacity import slots_needed
from specs.compiler import task_id_for


class Cluster:
    """The Overlord's `totalWorkerCapacity`, as the budget reads it."""

    def __init__(self) -> None:
        self.capacity = 8

    async def total_capacity(self) -> TotalWorkerCapacity:
        return TotalWorkerCapacity(
            current_cluster_capacity=self.capacity,
            maximum_capacity_with_auto_scale=-1,
            used_cluster_capacity=0,
        )


def parallel_spec(ceiling: int, ranged: bool, splits: int | None) -> msgspec.Raw:
    tuning: dict[str, Any] = {"type": "index_parallel", "maxNumConcurrentSubTasks": ceiling}
    if ranged:
        tuning["partitionsSpec"] = {"type": "range", "partitionDimensions": ["a"]}
    spec: dict[str, Any] = {"tuningConfig": tuning}
    if splits is not None:  # listed input files: the choice never passes their count
        uris = [f"https://example.com/{n}.json" for n in range(splits)]
        spec["ioConfig"] = {"inputSource": {"type": "http", "uris": uris}}
    return spec_raw({"type": "index_parallel", "spec": spec})


ranged_st = st.sampled_from([False, False, False, True])  # range partitioning: floor 2
splits_st = st.one_of(st.none(), st.integers(1, 10))
jobs_st = st.lists(st.tuples(st.integers(1, 8), ranged_st, splits_st), min_size=1, max_size=6)
# Admissions weigh most: overcommitting takes a few of them between two releases.
KINDS = ["admit"] * 4 + ["post"] * 2 + ["succeed", "fail", "crash", "capacity"]
steps_st = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 24)), max_size=60)


class Model:
    def __init__(self, jobs: list[tuple[int, bool, int | None]], queue: bool = True) -> None:
        self.queue = queue  # SlotPolicy.queue_sequential
        self.cluster = Cluster()
        self.now = 0.0
        self.logs: list[list[Event]] = []
        self.states: list[JobState] = []
        self.first_intent: dict[str, int] = {}  # task id -> m its first intent recorded
        self.asked: dict[str, float] = {}  # job -> when it first asked for its next attempt
        self.budget = self._budget()
        for n, (ceiling, ranged, splits) in enumerate(jobs):
            accept = Accept(
                at=0.0,
                job_id=f"job{n}",
                datasource="d",
                interval="2024-01-01/2024-01-02",
                spec=parallel_spec(ceiling, ranged, splits),
                spec_hash="h",
                max_attempts=100,
            )
            self.logs.append([])
            self.states.append(JobState())
            self.record(n, accept)

    def _budget(self) -> SlotBudget:
        # A TTL shorter than a step: every admission sees the capacity as it is now.
        policy = SlotPolicy(capacity_ttl_s=0.5, queue_sequential=self.queue)
        return SlotBudget(self.cluster, lambda: self.now, policy)  # type: ignore[arg-type]

    def record(self, n: int, command: Command) -> None:
        events = decide(self.states[n], command)
        self.logs[n].extend(events)
        self.states[n] = fold(events, self.states[n])
        if events:
            self.budget.observe(self.states[n])  # as the board hears every transition

    async def admit(self, n: int) -> None:
        state = self.states[n]
        if state.phase not in ("accepted", "retry_wait"):
            return
        held_before = self.budget.claimed
        asked = self.asked.setdefault(state.job_id, self.now)
        if await self.budget.admit(state) is not None:
            # With nothing claimed, one job may always go, once it has settled.
            assert held_before > 0 or self.now - asked < SlotPolicy().settle_s
            return
        del self.asked[state.job_id]
        bounds = self.budget.bounds(state)
        chosen = self.budget.choice(state.job_id)
        if bounds is not None and chosen is not None:
            assert bounds.floor <= chosen.m <= bounds.most, (bounds, chosen)
        capacity = self.budget.capacity
        claims = self.budget.claims
        if held_before > 0 and capacity is not None and state.job_id in claims:
            if not self.queue or claims[state.job_id] > 1 or self.budget.claimed <= capacity:
                assert self.budget.claimed <= capacity, (claims, capacity)
            else:  # sequential attempts queued in Druid, while none runs sub-tasks
                assert all(size == 1 for size in claims.values()), (claims, capacity)
                assert self.budget.claimed <= 2 * capacity, (claims, capacity)
        self.record(n, BeginAttempt(at=self.now, sub_tasks=chosen))
        after = self.states[n]
        assert after.task_id == task_id_for(after.job_id, after.attempt)
        self.first_intent[after.task_id] = m_of(attempt_body(after))

    def post(self, n: int) -> None:
        state = self.states[n]
        if state.phase != "submitting" and state.phase not in DRUID_LIVE:
            return
        body = spec_dict(attempt_body(state))  # a re-POST after a crash is this same call
        assert body["id"] == state.task_id
        assert m_of_dict(body) == self.first_intent[body["id"]]
        self.record(n, RecordSubmitted(at=self.now, task_id=body["id"]))

    def end(self, n: int, ok: bool) -> None:
        state = self.states[n]
        if state.phase not in DRUID_LIVE or state.task_id is None:
            return
        tid = state.task_id
        self.record(n, RecordStatus(at=self.now, task_id=tid, status="SUCCESS" if ok else "FAILED"))
        if not ok:
            self.record(
                n,
                RecordAnalysis(
                    at=self.now, task_id=tid, classification="transient", rule="r", reason="x"
                ),
            )

    def crash(self) -> None:
        self.budget = self._budget()
        self.asked = {}  # a restarted orchestrator settles its queue again
        self.states = [fold(log) for log in self.logs]
        for state in self.states:
            self.budget.observe(state)

    def check_claims(self) -> None:
        for state in self.states:
            claim = self.budget.claims.get(state.job_id)
            if self.budget.bounds(state) is None:  # sequential: never gated, never counted
                assert claim is None
            elif state.phase in HOLDING and state.task_id is not None:
                assert claim == slots_needed(self.first_intent[state.task_id]), state.job_id


def m_of(body: msgspec.Raw) -> int:
    return m_of_dict(spec_dict(body))


def m_of_dict(body: dict[str, Any]) -> int:
    return int(body["spec"]["tuningConfig"]["maxNumConcurrentSubTasks"])


@settings(max_examples=300)  # cheap examples; overcommitting needs a few jobs and a change
@given(st.booleans(), st.integers(1, 12), jobs_st, steps_st)
@example(True, 1, [(4, False, None)] * 3, [("admit", 0), ("admit", 1), ("admit", 2)])
@example(False, 1, [(4, False, None)] * 3, [("admit", 0), ("admit", 1), ("admit", 2)])
def test_an_attempt_keeps_the_m_of_its_first_intent_and_claims_stay_within_capacity(
    queue: bool,
    capacity: int,
    jobs: list[tuple[int, bool, int | None]],
    steps: list[tuple[str, int]],
) -> None:
    async def run() -> None:
        model = Model(jobs, queue)
        model.cluster.capacity = capacity
        for kind, value in steps:
            model.now += 1.0
            n = value % len(jobs)
            if kind == "capacity":
                model.cluster.capacity = 1 + value % 12  # small: a few jobs fill it
            elif kind == "admit":
                await model.admit(n)
            elif kind == "post":
                model.post(n)
            elif kind in ("succeed", "fail"):
                model.end(n, kind == "succeed")
            else:
                model.crash()
            model.check_claims()

    asyncio.run(run())
