"""The job FSM against a model of the Overlord (hypothesis RuleBasedStateMachine).

Each rule plays one thing the world can do — the Overlord accepting, refusing or losing a
task, a task changing runner state or finishing, a person cancelling, a timer firing, a
stale or garbled message arriving — and feeds it to `decide` exactly as the task actor
would. After every step the invariants must hold:

* terminal phases absorb every command but a person's retry of a dead or cancelled job;
* attempts only increase;
* never two live Druid tasks for one job (counted on the Overlord model);
* every submission is preceded by its own intent;
* folding the emitted events from scratch gives exactly the live state;
* every phase change is one the design allows.
"""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import assume, given
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from actors.job.evolve import evolve, fold
from actors.job.fsm import decide, next_effect
from actors.job.messages import (
    Accept,
    Adopt,
    AnalyseFailure,
    BeginAttempt,
    Cancel,
    CheckDeadlines,
    Command,
    Escalate,
    RecordAlreadyExists,
    RecordAnalysis,
    RecordCrash,
    RecordLost,
    RecordShutdown,
    RecordStatus,
    RecordSubmitRefused,
    RecordSubmitted,
    RecordSubmitUnknown,
    Retry,
    ShutdownTask,
    StartAttempt,
    SubmitTask,
)
from actors.job.state import ALLOWED_TRANSITIONS, RETRYABLE, TERMINAL, JobState
from eventlog.events import (
    Event,
    FailureClassified,
    JobDied,
    SubmitIntended,
    Submitted,
    WatermarkRecord,
    spec_raw,
)
from specs.compiler import task_id_for

JOB = "orch_wiki_20240101T000000Z_20240102T000000Z_abcdefabcdef"
# Intervals an attempt may be clipped to at the streaming watermark.
CLIPS = (
    "2024-01-01T00:00:00.000Z/2024-01-01T06:00:00.000Z",
    "2024-01-01T00:00:00.000Z/2024-01-01T18:00:00.000Z",
)
# What an attempt leaves behind that the next one must not inherit.
ATTEMPT_FIELDS = (
    "submit_not_before",
    "retry_not_before",
    "shutdown",
    "deadline_exceeded",
    "failure_source",
    "failure_http_status",
    "failure_error_code",
    "classification",
    "reason",
    "rule",
)


def accept(at: float, max_attempts: int) -> Accept:
    return Accept(
        at=at,
        job_id=JOB,
        datasource="wiki",
        interval="2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z",
        spec=spec_raw({"type": "index_parallel"}),
        spec_hash="abc",
        max_attempts=max_attempts,
    )


task_ids = st.sampled_from([f"{JOB}_{n}" for n in range(1, 6)] + ["someone_else_1"])
runner_codes = st.sampled_from(["WAITING", "PENDING", "RUNNING", None])


class JobMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000.0
        self.state = JobState()
        self.events: list[Event] = []
        self.max_attempt_seen = 0
        self.spared = 0  # failures recorded as not counting against the attempts
        self.budget = 0  # failures the job may have spared before they all count
        self.used_before_retry = 0  # counted attempts before a person's last retry
        # The Overlord model: task id -> "RUNNING" | "SUCCESS" | "FAILED"
        self.overlord: dict[str, str] = {}

    @initialize(max_attempts=st.integers(1, 4), budget=st.integers(0, 3))
    def accept_the_job(self, max_attempts: int, budget: int) -> None:
        # Few attempts make runs that use them all up, and the limit's edge, common; a small
        # budget of spared failures makes its edge common too.
        self.budget = budget
        self.accept = accept(self.now, max_attempts)
        self.apply(self.accept)

    # --- plumbing ----------------------------------------------------------------------

    def tick(self, seconds: float = 1.0) -> float:
        self.now += seconds
        return self.now

    def apply(self, command: Command) -> None:
        before = self.state
        events = decide(before, command)
        state = before
        for event in events:
            previous = state.phase
            state = evolve(state, event)
            if state.phase != previous:
                assert (previous, state.phase) in ALLOWED_TRANSITIONS, (
                    f"{previous} -> {state.phase} via {type(event).__name__}"
                )
        if before.terminal and not (isinstance(command, Retry) and before.phase in RETRYABLE):
            assert events == [], f"terminal phase {before.phase} accepted {command!r}"
        if isinstance(command, Retry):
            assert bool(events) == (before.phase in RETRYABLE), (before.phase, events)
        if (
            isinstance(command, RecordAnalysis)
            and command.classification == "transient"
            and before.phase == "failed"
            and before.classification is None
        ):
            # A failure counts when its rule says so or the job's spared budget is spent;
            # attempts run out only on failures that count, once they have all been used.
            counts = command.count_attempt or before.uncounted >= command.max_uncounted
            classified = next(e for e in events if isinstance(e, FailureClassified))
            assert classified.counted == counts, (before.uncounted, command)
            used = before.attempt - before.uncounted - self.used_before_retry
            exhausted = counts and used >= before.max_attempts
            assert any(isinstance(e, JobDied) for e in events) == exhausted, (used, command)
        if isinstance(command, Retry) and events:
            # A fresh set of attempts; a re-adopted task is the first of them.
            readopted = state.phase == "submitting"
            self.used_before_retry = before.attempt - readopted
            self.spared = 0  # the spared failures' budget starts again too
        self.events.extend(events)
        self.spared += sum(isinstance(e, FailureClassified) and not e.counted for e in events)
        self.state = state

    @property
    def current(self) -> str | None:
        return self.state.task_id

    # --- the actor carrying out its effects, with the Overlord's possible answers --------

    @rule(
        answer=st.sampled_from(["ok", "ok", "ok", "unknown-landed", "unknown-lost", "refused"]),
        kind=st.sampled_from(["transient", "transient", "structural"]),
        delay=st.floats(0, 60),
        counted=st.booleans(),
        clip=st.none() | st.sampled_from(CLIPS),
    )
    def actor_performs_its_effect(
        self, answer: str, kind: str, delay: float, counted: bool, clip: str | None
    ) -> None:
        effect = next_effect(self.state)
        tid = self.current
        if isinstance(effect, StartAttempt):
            # The watermark gate's decision for this attempt: the job's own interval, or one
            # clipped at the streaming watermark, recorded with the intent.
            mark = None if clip is None else WatermarkRecord(at=clip[-24:], source="s", detail="d")
            at = max(self.tick(), effect.not_before or 0.0)
            self.apply(BeginAttempt(at=at, interval=clip, watermark=mark))
        elif isinstance(effect, SubmitTask):
            assert tid is not None
            if tid in self.overlord:
                self.apply(
                    RecordAlreadyExists(at=self.tick(), task_id=tid, status=self.overlord[tid])
                )
            elif answer == "ok":
                self.overlord[tid] = "RUNNING"
                self.apply(RecordSubmitted(at=self.tick(), task_id=tid))
            elif answer.startswith("unknown"):
                if answer == "unknown-landed":
                    self.overlord[tid] = "RUNNING"
                self.apply(
                    RecordSubmitUnknown(
                        at=self.tick(), task_id=tid, error="timeout", retry_after_s=delay
                    )
                )
            else:
                self.apply(
                    RecordSubmitRefused(
                        at=self.tick(), task_id=tid, http_status=400, error_code=None, message="no"
                    )
                )
        elif isinstance(effect, ShutdownTask):
            assert tid is not None
            if tid in self.overlord:
                if self.overlord[tid] == "RUNNING":
                    self.overlord[tid] = "FAILED"
                self.apply(RecordShutdown(at=self.tick(), task_id=tid, http_status=200))
            else:
                self.apply(RecordShutdown(at=self.tick(), task_id=tid, http_status=404))
        elif isinstance(effect, AnalyseFailure):
            assert tid is not None
            self.apply(
                RecordAnalysis(
                    at=self.tick(),
                    task_id=tid,
                    classification=kind,  # type: ignore[arg-type]
                    rule="r",
                    reason="why",
                    retry_delay_s=delay,
                    count_attempt=counted,
                    max_uncounted=self.budget,
                )
            )

    # --- the Overlord moving on its own ------------------------------------------------

    @precondition(
        lambda self: self.current is not None and self.overlord.get(self.current) == "RUNNING"
    )
    @rule(
        change=st.sampled_from(
            ["WAITING", "PENDING", "RUNNING", "RUNNING", "SUCCESS", "FAILED", "forgotten"]
        )
    )
    def overlord_moves_the_task(self, change: str) -> None:
        tid = self.current
        assert tid is not None
        if change in ("SUCCESS", "FAILED"):
            self.overlord[tid] = change
            self.apply(RecordStatus(at=self.tick(), task_id=tid, status=change, error_msg="boom"))
        elif change == "forgotten":
            del self.overlord[tid]
            self.apply(RecordLost(at=self.tick(), task_id=tid, evidence="404"))
        else:
            self.apply(
                RecordStatus(at=self.tick(), task_id=tid, status="RUNNING", runner_status=change)
            )

    @rule(wait=st.floats(0, 100))
    def a_late_attempt_timer_fires(self, wait: float) -> None:
        # Timers can fire late, in any phase: only retry_wait/accepted may start an attempt.
        self.apply(BeginAttempt(at=self.tick(wait)))

    @precondition(lambda self: self.current is not None)
    @rule(kind=st.sampled_from(["transient", "structural"]))
    def a_late_failure_analysis_arrives(self, kind: str) -> None:
        tid = self.current
        assert tid is not None
        self.apply(
            RecordAnalysis(
                at=self.tick(), task_id=tid, classification=kind, rule="r", reason="late"
            )  # type: ignore[arg-type]
        )

    # --- people, timers, supervisors and noise ------------------------------------------

    # Ending rules fire on one draw in eight, so runs get deep into the lifecycle first.
    @rule(roll=st.integers(0, 7))
    def person_cancels(self, roll: int) -> None:
        if roll == 7:
            self.apply(Cancel(at=self.tick()))

    @rule(waiting=st.none() | st.floats(0, 50), running=st.none() | st.floats(0, 50))
    def deadline_timer_fires(self, waiting: float | None, running: float | None) -> None:
        self.apply(
            CheckDeadlines(
                at=self.tick(10), waiting_s=waiting, pending_s=waiting, running_s=running
            )
        )

    # A person retries a job, in any phase: only a dead or cancelled one runs again. Not
    # gated on a roll like the ending rules: it does nothing until the job has ended.
    @rule()
    def person_retries(self) -> None:
        self.apply(Retry(at=self.tick(), reason="input fixed"))

    @rule(restarts=st.integers(1, 5))
    def the_actor_crashes(self, restarts: int) -> None:
        self.apply(RecordCrash(at=self.tick(), error="RuntimeError", restarts=restarts))

    @rule(roll=st.integers(0, 7))
    def supervisor_gives_up(self, roll: int) -> None:
        if roll == 7:
            self.apply(Escalate(at=self.tick(), reason="too many crashes"))

    # The one way a job dies with its task still live: what a retry must not run beside.
    @precondition(
        lambda self: self.current is not None and self.overlord.get(self.current) == "RUNNING"
    )
    @rule(roll=st.integers(0, 3))
    def supervisor_gives_up_while_the_task_runs(self, roll: int) -> None:
        if roll == 3:
            self.apply(Escalate(at=self.tick(), reason="too many crashes"))

    @rule(
        tid=task_ids,
        status=st.sampled_from(["RUNNING", "SUCCESS", "FAILED"]),
        runner=runner_codes,
        attempt=st.integers(1, 5),
    )
    def stale_or_garbled_message(
        self, tid: str, status: str, runner: str | None, attempt: int
    ) -> None:
        # Messages about other task ids, late duplicates, adoption claims: only the current
        # task's truth may change anything.
        assume(tid != self.current or tid not in self.overlord)
        for command in (
            RecordStatus(at=self.tick(), task_id=tid, status=status, runner_status=runner),
            RecordSubmitted(at=self.tick(), task_id=tid),
            RecordAlreadyExists(at=self.tick(), task_id=tid, status=status),
            RecordLost(at=self.tick(), task_id=tid, evidence="?"),
            RecordShutdown(at=self.tick(), task_id=tid),
            Adopt(
                at=self.tick(),
                accept=self.accept,
                task_id=tid,
                attempt=attempt,
                evidence="adoption is only for jobs the log does not know",
            ),
        ):
            if isinstance(command, (RecordSubmitted, RecordAlreadyExists)) and tid == self.current:
                continue  # a real answer for the current id is modelled by the rules above
            self.apply(command)

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def uncounted_failures_are_failed_attempts(self) -> None:
        assert self.state.uncounted == self.spared <= self.budget
        assert self.spared <= self.state.attempt - self.used_before_retry

    @invariant()
    def attempts_only_increase(self) -> None:
        assert self.state.attempt >= self.max_attempt_seen
        self.max_attempt_seen = self.state.attempt

    @invariant()
    def never_two_live_druid_tasks_for_one_job(self) -> None:
        live = [t for t, s in self.overlord.items() if s == "RUNNING" and t.startswith(JOB)]
        assert len(live) <= 1, f"two live tasks: {live}"

    @invariant()
    def every_submission_is_preceded_by_its_intent(self) -> None:
        intents: set[tuple[int, str]] = set()
        for event in self.events:
            if isinstance(event, SubmitIntended):
                intents.add((event.attempt, event.task_id))
            if isinstance(event, Submitted):
                assert (event.attempt, event.task_id) in intents

    @invariant()
    def every_attempt_starts_clean(self) -> None:
        if self.events and isinstance(self.events[-1], SubmitIntended):
            fresh = JobState()
            for name in ATTEMPT_FIELDS:
                assert getattr(self.state, name) == getattr(fresh, name), name

    @invariant()
    def every_post_sends_the_interval_its_intent_recorded(self) -> None:
        intents = [e for e in self.events if isinstance(e, SubmitIntended)]
        if intents:
            assert self.state.submit_interval == intents[-1].interval
            assert self.state.task_id == task_id_for(JOB, intents[-1].attempt)

    @invariant()
    def replay_gives_the_live_state(self) -> None:
        assert fold(self.events) == self.state

    @invariant()
    def terminal_phases_are_final(self) -> None:
        if self.state.terminal:
            assert self.state.phase in TERMINAL
            assert next_effect(self.state) is not None


TestJobMachine = JobMachine.TestCase


@given(
    max_attempts=st.integers(1, 4),
    counted=st.lists(st.booleans(), min_size=1, max_size=12),
    budget=st.integers(0, 12),
)
def test_only_failures_that_count_use_up_attempts(
    max_attempts: int, counted: list[bool], budget: int
) -> None:
    """Fail every attempt; the job dies at the failure that makes `max_attempts` counted ones.
    A failure counts when its rule says so, or once `budget` failures have been spared."""
    now = 1_000.0
    state = JobState()
    events: list[Event] = []

    def apply(command: Command) -> None:
        nonlocal state
        for event in decide(state, command):
            state = evolve(state, event)
            events.append(event)

    apply(accept(now, max_attempts))
    used = 0
    for n, counts in enumerate(counted, start=1):
        now += 100.0
        apply(BeginAttempt(at=now))
        assert (state.phase, state.attempt) == ("submitting", n)
        tid = state.task_id
        assert tid is not None
        apply(RecordSubmitted(at=now, task_id=tid))
        apply(RecordStatus(at=now, task_id=tid, status="FAILED", error_msg="lost"))
        apply(
            RecordAnalysis(
                at=now,
                task_id=tid,
                classification="transient",
                rule="r",
                reason="r",
                count_attempt=counts,
                max_uncounted=budget,
            )
        )
        counts = counts or n - 1 - used >= budget
        used += counts
        assert state.uncounted == n - used
        if used == max_attempts:
            assert state.phase == "dead", (n, used)
            return
        assert state.phase == "retry_wait", (n, used)
