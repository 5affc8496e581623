"""The supervisor FSM against a model of the Overlord (hypothesis RuleBasedStateMachine).

Each rule plays one thing the world can do — a person applying a spec or asking for a
suspend, resume, terminate or reset; the Overlord answering a call, or someone editing it
behind our back; the poller reporting any state Druid can report; the orchestrator
restarting mid-call; a stale or garbled message arriving — and feeds it to `decide` exactly
as the supervisor's actor will. After every step the invariants must hold:

* replay of the recorded events (through the log's encoding) equals the live state;
* never two applies of one spec without a change in between: an apply intent is never
  written for the spec the log last knew the Overlord to hold, and no spec is POSTed that
  the log knew the Overlord held;
* no reset without a person's command: every reset intent comes from a `Reset` naming who
  and why, and the Overlord sees no more resets than were intended;
* terminated absorbs every command but an apply.
"""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from actors.streams.evolve import evolve, fold
from actors.streams.fsm import decide, next_effect
from actors.streams.messages import (
    Apply,
    AskPerson,
    Command,
    Finish,
    PostSpec,
    RecordActionFailed,
    RecordApplied,
    RecordApplyRefused,
    RecordHealth,
    RecordHeld,
    RecordReset,
    RecordResumed,
    RecordState,
    RecordSuspended,
    RecordTerminated,
    Reset,
    ResetSupervisor,
    Resume,
    ResumeSupervisor,
    Suspend,
    SuspendSupervisor,
    Terminate,
    TerminateSupervisor,
    Watch,
)
from actors.streams.state import ACTIONS, DETAILED_STATES, DRUID_STATES, SupervisorState
from eventlog.events import (
    Event,
    SupervisorApplied,
    SupervisorApplyIntended,
    SupervisorHeldObserved,
    SupervisorResetIntended,
    SupervisorTerminated,
    decode_event,
    encode_event,
    spec_raw,
)

SID = "orch_wiki_kafka"
HASHES = ("a", "b", "c")
SPECS = {h: spec_raw({"type": "kafka", "id": SID, "rev": h}) for h in HASHES}

hashes = st.sampled_from(HASHES)
# Blank names and reasons are common enough to test the rule, rare enough that resets happen.
people = st.sampled_from(["ana", "bo", " "])
reasons = st.sampled_from(["topic recreated", "offsets out of range", ""])
# How the Overlord answers the actor's next call, and whether the actor dies right after it
# (half the time: every intent's recovery hangs on it).
answers = st.sampled_from(["ok", "ok", "refused", "lost"])
outcomes = st.tuples(answers, st.booleans())


class SupervisorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000.0
        self.state = SupervisorState()
        self.events: list[Event] = []
        self.replayed_through = 0  # the version the actor read back at its last start
        # The Overlord model: the hash of the spec it holds (None: no supervisor), whether
        # it is suspended, and the calls it received.
        self.held: str | None = None
        self.suspended = False
        self.resets = 0
        self.posts_of_a_spec_the_log_knew_held = 0

    @initialize(spec_hash=hashes, outcome=outcomes)
    def a_person_applies_the_first_spec(self, spec_hash: str, outcome: tuple[str, bool]) -> None:
        # An unknown supervisor decides nothing but an apply (the unit tests say so): start
        # from one, so every run gets into the lifecycle.
        self.person_applies_a_spec(spec_hash, outcome)

    # --- plumbing ----------------------------------------------------------------------

    def tick(self, seconds: float = 1.0) -> float:
        self.now += seconds
        return self.now

    def apply(self, command: Command) -> None:
        before = self.state
        events = decide(before, command)
        state = before
        for event in events:
            state = evolve(state, event)
            if isinstance(event, SupervisorResetIntended):
                assert isinstance(command, Reset), f"a reset decided from {command!r}"
                assert event.by == command.by.strip() != "", (event, command)
                assert event.reason == command.reason.strip() != "", (event, command)
        if before.terminated and not isinstance(command, Apply):
            assert events == [], f"terminated accepted {command!r}"
        self.events.extend(events)
        self.state = state

    def crash_and_restart(self) -> None:
        self.replayed_through = self.state.version

    def post(self, effect: PostSpec, answer: str, crash: bool) -> None:
        if self.state.held_hash == effect.spec_hash:
            self.posts_of_a_spec_the_log_knew_held += 1
        if answer == "ok":
            self.held = effect.spec_hash
            self.suspended = False  # a spec without `suspended: true` runs
        if crash or answer == "lost":
            # No outcome recorded: the actor died after the call, or the answer was lost
            # (which the actor treats as a crash, so that a restart settles it).
            self.crash_and_restart()
        elif answer == "ok":
            self.apply(RecordApplied(at=self.tick(), spec_hash=effect.spec_hash))
        else:
            self.apply(
                RecordApplyRefused(
                    at=self.tick(), spec_hash=effect.spec_hash, http_status=400, message="no"
                )
            )

    # --- the actor carrying out its effects, with the Overlord's possible answers --------

    # `crash`: the actor dies after its call reached the Overlord, before it records the
    # outcome; half the time, because every intent's recovery hangs on it.
    # The actor acts right after each decision (the rules below that end in `act`), and also
    # here, on its own, so that anything else may happen between a decision and its call.
    @rule(answer=answers, crash=st.booleans())
    def actor_performs_its_effect(self, answer: str, crash: bool) -> None:
        effect = next_effect(self.state, replayed_through=self.replayed_through)
        at = self.tick()
        if isinstance(effect, PostSpec):
            if effect.compare_first:
                self.apply(RecordHeld(at=at, spec_hash=self.held))
            if self.state.pending == "apply" and self.state.pending_hash == effect.spec_hash:
                self.post(effect, answer, crash)
        elif isinstance(effect, (SuspendSupervisor, ResumeSupervisor, TerminateSupervisor)):
            action = self.state.pending
            assert action in ACTIONS
            if self.held is None:
                outcome: Command = RecordActionFailed(
                    at=at, action=action, message="404", http_status=404
                )
            elif isinstance(effect, SuspendSupervisor):
                self.suspended = True  # again is harmless: Druid says "already suspended"
                outcome = RecordSuspended(at=at)
            elif isinstance(effect, ResumeSupervisor):
                self.suspended = False
                outcome = RecordResumed(at=at)
            else:
                self.held, self.suspended = None, False
                outcome = RecordTerminated(at=at)
            if crash:
                self.crash_and_restart()
            else:
                self.apply(outcome)
        elif isinstance(effect, ResetSupervisor):
            self.resets += 1
            if crash or answer == "lost":
                self.crash_and_restart()
            else:
                self.apply(RecordReset(at=at))
        elif isinstance(effect, AskPerson):
            if answer == "ok":
                self.apply(RecordReset(at=at))
            else:
                self.apply(RecordActionFailed(at=at, action="reset", message="not done"))
        elif isinstance(effect, Watch) and self.held is not None and self.suspended:
            self.apply(RecordState(at=at, state="SUSPENDED", healthy=True))

    @rule(outcome=outcomes)
    def the_orchestrator_restarts(self, outcome: tuple[str, bool]) -> None:
        self.crash_and_restart()
        self.actor_performs_its_effect(*outcome)

    # --- people ------------------------------------------------------------------------

    @rule(spec_hash=hashes, outcome=outcomes)
    def person_applies_a_spec(self, spec_hash: str, outcome: tuple[str, bool]) -> None:
        self.apply(
            Apply(
                at=self.tick(),
                supervisor_id=SID,
                datasource="wiki",
                spec=SPECS[spec_hash],
                spec_hash=spec_hash,
            )
        )
        self.actor_performs_its_effect(*outcome)

    @rule(by=people, reason=reasons, resume=st.booleans(), outcome=outcomes)
    def person_suspends_or_resumes(
        self, by: str, reason: str, resume: bool, outcome: tuple[str, bool]
    ) -> None:
        command = Resume if resume else Suspend
        self.apply(command(at=self.tick(), by=by, reason=reason))
        self.actor_performs_its_effect(*outcome)

    # Ending rules fire on one draw in six, so runs get deep into the lifecycle first.
    @rule(roll=st.integers(0, 5), by=people, outcome=outcomes)
    def person_terminates(self, roll: int, by: str, outcome: tuple[str, bool]) -> None:
        if roll == 5:
            self.apply(Terminate(at=self.tick(), by=by))
            self.actor_performs_its_effect(*outcome)

    # Only where a reset can be decided, so that resets (and their crashes) are common; the
    # stale rule checks that a reset decides nothing while another call is pending.
    @precondition(lambda self: self.state.applied and self.state.pending is None)
    @rule(by=people, reason=reasons, outcome=outcomes)
    def person_resets(self, by: str, reason: str, outcome: tuple[str, bool]) -> None:
        self.apply(Reset(at=self.tick(), by=by, reason=reason))
        self.actor_performs_its_effect(*outcome)

    # --- the Overlord moving without us --------------------------------------------------

    @rule(change=st.sampled_from(["edited", "deleted", "suspended", "resumed"]))
    def someone_changes_the_overlord(self, change: str) -> None:
        if change == "edited":
            self.held = "console"
        elif change == "deleted":
            self.held, self.suspended = None, False
        elif self.held is not None:
            self.suspended = change == "suspended"

    @rule()
    def reconciler_reads_what_the_overlord_holds(self) -> None:
        self.apply(RecordHeld(at=self.tick(), spec_hash=self.held))

    @rule(
        state=st.sampled_from(DRUID_STATES),
        detailed=st.none() | st.sampled_from(DETAILED_STATES),
        healthy=st.none() | st.booleans(),
        errors=st.lists(st.sampled_from(["TimeoutException", "OffsetOutOfRange"]), max_size=2),
    )
    def poller_reports_any_state(
        self, state: str, detailed: str | None, healthy: bool | None, errors: list[str]
    ) -> None:
        # Any report at all, unhealthy or lost stream included: none may decide an action.
        self.apply(
            RecordState(
                at=self.tick(),
                state=state,
                detailed_state=detailed,
                healthy=healthy,
                recent_errors=tuple(errors),
            )
        )

    @rule(
        classification=st.sampled_from(["transient", "structural"]),
        rule_name=st.sampled_from(["stream-unreachable", "offsets-out-of-range"]),
    )
    def rules_read_the_last_report(self, classification: str, rule_name: str) -> None:
        # A reading is recorded, never acted on: it writes its own event or nothing.
        command = RecordHealth(
            at=self.tick(),
            classification=classification,  # type: ignore[arg-type]
            rule=rule_name,
            reason="a reading",
        )
        events = decide(self.state, command)
        assert all(type(e).__name__ == "SupervisorHealthClassified" for e in events)
        self.apply(command)

    @rule(spec_hash=st.sampled_from([*HASHES, "stale"]), action=st.sampled_from(ACTIONS))
    def stale_or_garbled_message(self, spec_hash: str, action: str) -> None:
        # Answers to calls that were never made: only the pending call's answer, which the
        # effect rule models, may change anything.
        pending = self.state.pending
        for command in (
            RecordApplied(at=self.tick(), spec_hash=spec_hash),
            RecordApplyRefused(at=self.tick(), spec_hash=spec_hash, http_status=400, message=""),
            RecordSuspended(at=self.tick()),
            RecordResumed(at=self.tick()),
            RecordTerminated(at=self.tick()),
            RecordReset(at=self.tick()),
            RecordActionFailed(at=self.tick(), action=action, message="?"),  # type: ignore[arg-type]
            Reset(at=self.tick(), by="ana", reason="while another call is pending"),
        ):
            real = {
                RecordApplied: pending == "apply" and spec_hash == self.state.pending_hash,
                RecordApplyRefused: pending == "apply" and spec_hash == self.state.pending_hash,
                RecordSuspended: pending == "suspend",
                RecordResumed: pending == "resume",
                RecordTerminated: pending == "terminate",
                RecordReset: pending == "reset",
                RecordActionFailed: pending == action,
                Reset: pending is None,
            }[type(command)]
            if not real:
                assert decide(self.state, command) == [], command

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def replay_of_the_recorded_events_equals_the_live_state(self) -> None:
        stored = [decode_event(encode_event(e)) for e in self.events]
        assert fold(stored) == self.state
        assert self.state.version == len(self.events)

    @invariant()
    def never_two_applies_of_one_spec_without_a_change_in_between(self) -> None:
        known_held: str | None = None  # what the log knew the Overlord to hold
        for event in self.events:
            if isinstance(event, SupervisorApplyIntended):
                assert event.spec_hash != known_held, f"{event.spec_hash} applied again"
            elif isinstance(event, (SupervisorApplied, SupervisorHeldObserved)):
                known_held = event.spec_hash
            elif isinstance(event, SupervisorTerminated):
                known_held = None
        assert self.posts_of_a_spec_the_log_knew_held == 0

    @invariant()
    def a_health_reading_lasts_only_while_the_supervisor_is_unhealthy(self) -> None:
        if self.state.healthy is not False:
            assert self.state.health is None

    @invariant()
    def no_reset_without_a_persons_command(self) -> None:
        intended = sum(isinstance(e, SupervisorResetIntended) for e in self.events)
        assert self.resets <= intended, (self.resets, intended)

    @invariant()
    def terminated_asks_for_nothing_but_to_finish(self) -> None:
        # `held_hash` may name a spec: someone re-created the supervisor after our terminate,
        # and a GET during a refused re-create saw it. Only a person's apply takes it over.
        if self.state.terminated:
            assert self.state.pending is None
            assert next_effect(self.state, replayed_through=self.state.version) == Finish()


TestSupervisorMachine = SupervisorMachine.TestCase
