"""Focused cases of the supervisor FSM (the property test covers the general invariants)."""

from __future__ import annotations

import pytest

from actors.errors import InvalidTransitionError
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
    RecordHeld,
    RecordReset,
    RecordState,
    RecordSuspended,
    RecordTerminated,
    Reset,
    ResetSupervisor,
    Resume,
    Suspend,
    Terminate,
    Watch,
)
from actors.streams.state import SupervisorState
from eventlog.events import (
    Event,
    SupervisorActionFailed,
    SupervisorApplied,
    SupervisorApplyIntended,
    SupervisorApplyRejected,
    SupervisorHeldObserved,
    SupervisorReset,
    SupervisorResetIntended,
    SupervisorStateObserved,
    SupervisorSuspended,
    SupervisorSuspendIntended,
    SupervisorTerminated,
    SupervisorTerminateIntended,
    spec_raw,
)

SID = "orch_wiki_kafka"
SPEC_A = spec_raw({"type": "kafka", "id": SID, "v": 1})
SPEC_B = spec_raw({"type": "kafka", "id": SID, "v": 2})


def apply(spec_hash: str = "a", at: float = 1.0) -> Apply:
    spec = SPEC_A if spec_hash == "a" else SPEC_B
    return Apply(at=at, supervisor_id=SID, datasource="wiki", spec=spec, spec_hash=spec_hash)


def run(
    *commands: Command, state: SupervisorState | None = None
) -> tuple[SupervisorState, list[Event]]:
    state = state or SupervisorState()
    recorded: list[Event] = []
    for command in commands:
        for event in decide(state, command):
            state = evolve(state, event)
            recorded.append(event)
    return state, recorded


def applied(spec_hash: str = "a") -> SupervisorState:
    state, _ = run(apply(spec_hash), RecordApplied(at=2.0, spec_hash=spec_hash))
    return state


def test_a_first_apply_writes_its_intent_and_then_asks_to_compare_before_posting() -> None:
    state, events = run(apply("a"))
    assert events == [
        SupervisorApplyIntended(
            at=1.0, supervisor_id=SID, datasource="wiki", spec=SPEC_A, spec_hash="a"
        )
    ]
    assert state.pending == "apply"
    # Nothing says what the Overlord holds yet: the actor GETs before it POSTs.
    assert next_effect(state) == PostSpec(SID, SPEC_A, "a", compare_first=True)


def test_a_successful_post_makes_the_spec_applied_and_held_and_the_actor_watches() -> None:
    state, events = run(apply("a"), RecordApplied(at=2.0, spec_hash="a", modified=True))
    assert events[1:] == [
        SupervisorApplied(at=2.0, spec_hash="a", evidence="Overlord says modified=True")
    ]
    assert (state.spec_hash, state.held_hash, state.pending) == ("a", "a", None)
    assert bytes(state.spec) == bytes(SPEC_A)
    assert next_effect(state) == Watch(SID)


def test_applying_the_spec_the_overlord_already_holds_decides_nothing() -> None:
    assert decide(applied("a"), apply("a", at=5.0)) == []


def test_applying_a_changed_spec_records_an_intent_and_posts_without_a_get() -> None:
    state, events = run(apply("b", at=5.0), state=applied("a"))
    assert [type(e) for e in events] == [SupervisorApplyIntended]
    assert next_effect(state) == PostSpec(SID, SPEC_B, "b", compare_first=False)


def test_a_get_that_finds_the_intended_spec_settles_the_apply_without_a_post() -> None:
    state, events = run(apply("a"), RecordHeld(at=2.0, spec_hash="a"))
    assert events[1:] == [
        SupervisorApplied(
            at=2.0, spec_hash="a", adopted=True, evidence="GET /supervisor/{id} holds this spec"
        )
    ]
    assert state.in_sync


def test_the_same_spec_is_applied_again_once_the_overlord_is_seen_holding_another() -> None:
    state, events = run(
        RecordHeld(at=3.0, spec_hash="edited in the console"), apply("a", at=4.0), state=applied()
    )
    assert [type(e) for e in events] == [SupervisorHeldObserved, SupervisorApplyIntended]
    assert next_effect(state) == PostSpec(SID, SPEC_A, "a", compare_first=False)


def test_a_refused_spec_leaves_the_old_one_applied_and_says_why() -> None:
    state, events = run(
        apply("b", at=5.0),
        RecordApplyRefused(at=6.0, spec_hash="b", http_status=400, message="bad topic"),
        state=applied("a"),
    )
    assert events[1:] == [
        SupervisorApplyRejected(at=6.0, spec_hash="b", http_status=400, message="bad topic")
    ]
    assert (state.spec_hash, state.pending, state.last_error) == ("a", None, "bad topic")


def test_an_answer_for_another_spec_is_stale_and_decides_nothing() -> None:
    state, _ = run(apply("b", at=5.0), state=applied("a"))
    assert decide(state, RecordApplied(at=6.0, spec_hash="a")) == []
    assert (
        decide(state, RecordApplyRefused(at=6.0, spec_hash="a", http_status=400, message="")) == []
    )


def test_one_intent_at_a_time_a_second_apply_waits_for_the_first_outcome() -> None:
    state, _ = run(apply("a"))
    assert decide(state, apply("b", at=2.0)) == []
    assert decide(state, Suspend(at=2.0)) == []


def test_an_apply_for_another_supervisor_id_decides_nothing() -> None:
    other = Apply(at=5.0, supervisor_id="other", datasource="wiki", spec=SPEC_B, spec_hash="b")
    assert decide(applied(), other) == []


def test_state_observations_are_recorded_only_when_they_change() -> None:
    lost = RecordState(
        at=3.0,
        state="UNHEALTHY_SUPERVISOR",
        detailed_state="LOST_CONTACT_WITH_STREAM",
        healthy=False,
        recent_errors=("TimeoutException: no brokers",),
    )
    state, events = run(lost, lost, state=applied())
    assert events == [
        SupervisorStateObserved(
            at=3.0,
            state="UNHEALTHY_SUPERVISOR",
            detailed_state="LOST_CONTACT_WITH_STREAM",
            healthy=False,
            recent_errors=("TimeoutException: no brokers",),
        )
    ]
    assert (state.observed, state.healthy) == ("UNHEALTHY_SUPERVISOR", False)


@pytest.mark.parametrize("detailed", ["LOST_CONTACT_WITH_STREAM", "UNABLE_TO_CONNECT_TO_STREAM"])
def test_an_unhealthy_stream_is_recorded_and_never_resets_anything(detailed: str) -> None:
    observed = RecordState(at=3.0, state="UNHEALTHY_SUPERVISOR", detailed_state=detailed)
    state, events = run(observed, state=applied())
    assert [type(e) for e in events] == [SupervisorStateObserved]
    assert state.pending is None
    assert next_effect(state) == Watch(SID)


def test_a_person_resets_with_who_and_why_and_the_actor_then_resets() -> None:
    state, events = run(Reset(at=3.0, by="ana", reason=" topic recreated "), state=applied())
    assert events == [SupervisorResetIntended(at=3.0, by="ana", reason="topic recreated")]
    assert next_effect(state) == ResetSupervisor(SID, by="ana", reason="topic recreated")
    state, events = run(RecordReset(at=4.0), state=state)
    assert events == [SupervisorReset(at=4.0)]
    assert (state.last_reset_by, state.last_reset_reason, state.last_reset_at) == (
        "ana",
        "topic recreated",
        4.0,
    )


@pytest.mark.parametrize(("by", "reason"), [("", "why"), ("ana", ""), ("  ", "  ")])
def test_a_reset_without_a_name_or_a_reason_decides_nothing(by: str, reason: str) -> None:
    assert decide(applied(), Reset(at=3.0, by=by, reason=reason)) == []


def test_a_reset_pending_across_a_restart_is_put_to_a_person_not_repeated() -> None:
    state, _ = run(Reset(at=3.0, by="ana", reason="r"), state=applied())
    assert isinstance(next_effect(state, replayed_through=state.version), AskPerson)
    # Something recorded since the restart does not make the earlier run's call less uncertain.
    state, _ = run(RecordState(at=4.0, state="RUNNING"), state=state)
    assert isinstance(next_effect(state, replayed_through=state.version - 1), AskPerson)
    state, events = run(
        RecordActionFailed(at=9.0, action="reset", message="not done, says ana"), state=state
    )
    assert events == [SupervisorActionFailed(at=9.0, action="reset", message="not done, says ana")]
    assert state.pending is None


def test_suspend_then_resume_follow_intent_and_outcome() -> None:
    state, events = run(
        Suspend(at=3.0, by="ana", reason="maintenance"), RecordSuspended(at=4.0), state=applied()
    )
    assert events == [
        SupervisorSuspendIntended(at=3.0, by="ana", reason="maintenance"),
        SupervisorSuspended(at=4.0),
    ]
    assert state.desired == "suspended"
    assert decide(state, Suspend(at=5.0)) == []
    assert [type(e).__name__ for e in decide(state, Resume(at=5.0))] == ["SupervisorResumeIntended"]


def test_a_supervisor_someone_else_suspended_can_be_resumed_by_a_person() -> None:
    state, _ = run(RecordState(at=3.0, state="SUSPENDED"), state=applied())
    assert state.desired == "running"
    assert len(decide(state, Resume(at=4.0))) == 1


def test_terminated_absorbs_everything_but_a_new_apply_which_recreates_it() -> None:
    state, events = run(Terminate(at=3.0, by="ana"), RecordTerminated(at=4.0), state=applied())
    assert events == [
        SupervisorTerminateIntended(at=3.0, by="ana", reason=""),
        SupervisorTerminated(at=4.0),
    ]
    assert state.terminated
    assert next_effect(state) == Finish()
    for command in (
        Suspend(at=5.0),
        Resume(at=5.0),
        Terminate(at=5.0),
        Reset(at=5.0, by="ana", reason="r"),
        RecordState(at=5.0, state="RUNNING"),
        RecordHeld(at=5.0, spec_hash="a"),
    ):
        assert decide(state, command) == [], command
    # The same spec as before: the Overlord no longer holds it, so it is POSTed again.
    state, events = run(apply("a", at=6.0), RecordApplied(at=7.0, spec_hash="a"), state=state)
    assert [type(e) for e in events] == [SupervisorApplyIntended, SupervisorApplied]
    assert (state.desired, state.terminated) == ("running", False)


def test_a_terminated_supervisor_refuses_any_event_but_an_apply_intent() -> None:
    state, _ = run(Terminate(at=3.0), RecordTerminated(at=4.0), state=applied())
    with pytest.raises(InvalidTransitionError):
        evolve(state, SupervisorSuspended(at=5.0))


def test_an_outcome_with_no_intent_is_refused_by_evolve() -> None:
    with pytest.raises(InvalidTransitionError):
        evolve(applied(), SupervisorReset(at=5.0))


def test_nothing_but_an_apply_is_decided_for_an_unknown_supervisor() -> None:
    for command in (Suspend(at=1.0), RecordState(at=1.0, state="RUNNING"), RecordReset(at=1.0)):
        assert decide(SupervisorState(), command) == []
    assert next_effect(SupervisorState()) is None


def test_replay_of_a_stream_gives_the_state_reached_live() -> None:
    state, events = run(
        apply("a"),
        RecordApplied(at=2.0, spec_hash="a"),
        RecordState(at=3.0, state="RUNNING", healthy=True),
        Suspend(at=4.0),
        RecordSuspended(at=5.0),
        apply("b", at=6.0),
        RecordApplied(at=7.0, spec_hash="b"),
    )
    assert fold(events) == state
    assert state.version == len(events)


def test_an_apply_pending_from_an_earlier_run_compares_before_posting_again() -> None:
    state, _ = run(apply("b", at=5.0), state=applied("a"))
    assert next_effect(state).compare_first is False  # type: ignore[union-attr]
    replayed = next_effect(state, replayed_through=state.version)
    assert replayed == PostSpec(SID, SPEC_B, "b", compare_first=True)
