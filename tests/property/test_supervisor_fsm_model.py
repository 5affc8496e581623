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
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from actors.streams.evolve import evolve, fold
from actors.streams.fsm import decide, next_effect
from actors.streams.messages import (
    Apply,
    AskPerson,
    Command,
    PostSpec,
    RecordActionFailed,
    RecordApplied,
    RecordApplyRefused,
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
people = st.sampled_from(["ana", "bo", "", "  "])
reasons = st.sampled_from(["topic recreated", "offsets out of range", "", " "])


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

    @initialize(spec_hash=hashes)
    def a_person_applies_the_first_spec(self, spec_hash: str) -> None:
        # An unknown supervisor decides nothing but an apply (the unit tests say so): start
        # from one, so every run gets into the lifecycle.
        self.person_applies_a_spec(spec_hash)

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

    def post(self, effect: PostSpec, answer: str) -> None:
        if self.state.held_hash == effect.spec_hash:
            self.posts_of_a_spec_the_log_knew_held += 1
        if answer in ("ok", "landed-then-crash"):
            self.held = effect.spec_hash
            self.suspended = False  # a spec without `suspended: true` runs
        if answer == "ok":
            self.apply(RecordApplied(at=self.tick(), spec_hash=effect.spec_hash))
        elif answer == "refused":
            self.apply(
                RecordApplyRefused(
                    at=self.tick(), spec_hash=effect.spec_hash, http_status=400, message="no"
                )
            )
        else:  # no answer recorded: the actor crashed before the outcome, and restarts
            self.crash_and_restart()

    # --- the actor carrying out its effects, with the Overlord's possible answers --------

    @rule(answer=st.sampled_from(["ok", "ok", "ok", "refused", "landed-then-crash", "lost"]))
    def actor_performs_its_effect(self, answer: str) -> None:
        effect = next_effect(self.state, replayed_through=self.replayed_through)
        at = self.tick()
        if isinstance(effect, PostSpec):
            if effect.compare_first:
                self.apply(RecordHeld(at=at, spec_hash=self.held))
            if self.state.pending == "apply" and self.state.pending_hash == effect.spec_hash:
                self.post(effect, answer)
        elif isinstance(effect, (SuspendSupervisor, ResumeSupervisor, TerminateSupervisor)):
            if self.held is None:
                action = self.state.pending
                assert action in ACTIONS
                self.apply(RecordActionFailed(at=at, action=action, message="404", http_status=404))
            elif isinstance(effect, SuspendSupervisor):
                self.suspended = True
                self.apply(RecordSuspended(at=at))
            elif isinstance(effect, ResumeSupervisor):
                self.suspended = False
                self.apply(RecordResumed(at=at))
            else:
                self.held, self.suspended = None, False
                self.apply(RecordTerminated(at=at))
        elif isinstance(effect, ResetSupervisor):
            self.resets += 1
            if answer == "landed-then-crash":
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

    @rule()
    def the_orchestrator_restarts(self) -> None:
        self.crash_and_restart()

    # --- people ------------------------------------------------------------------------

    @rule(spec_hash=hashes)
    def person_applies_a_spec(self, spec_hash: str) -> None:
        self.apply(
            Apply(
                at=self.tick(),
                supervisor_id=SID,
                datasource="wiki",
                spec=SPECS[spec_hash],
                spec_hash=spec_hash,
            )
        )

    @rule(by=people, reason=reasons)
    def person_suspends_or_resumes(self, by: str, reason: str) -> None:
        self.apply(Suspend(at=self.tick(), by=by, reason=reason))
        self.apply(Resume(at=self.tick(), by=by, reason=reason))

    # Ending rules fire on one draw in six, so runs get deep into the lifecycle first.
    @rule(roll=st.integers(0, 5), by=people)
    def person_terminates(self, roll: int, by: str) -> None:
        if roll == 5:
            self.apply(Terminate(at=self.tick(), by=by))

    @rule(by=people, reason=reasons)
    def person_resets(self, by: str, reason: str) -> None:
        self.apply(Reset(at=self.tick(), by=by, reason=reason))

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
        ):
            real = {
                RecordApplied: pending == "apply" and spec_hash == self.state.pending_hash,
                RecordApplyRefused: pending == "apply" and spec_hash == self.state.pending_hash,
                RecordSuspended: pending == "suspend",
                RecordResumed: pending == "resume",
                RecordTerminated: pending == "terminate",
                RecordReset: pending == "reset",
                RecordActionFailed: pending == action,
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
    def no_reset_without_a_persons_command(self) -> None:
        intended = sum(isinstance(e, SupervisorResetIntended) for e in self.events)
        assert self.resets <= intended, (self.resets, intended)

    @invariant()
    def terminated_asks_for_nothing_but_to_finish(self) -> None:
        if self.state.terminated:
            assert self.state.held_hash is None
            assert self.state.pending is None


TestSupervisorMachine = SupervisorMachine.TestCase
