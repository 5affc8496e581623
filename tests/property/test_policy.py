"""Supervision policy as pure functions: retry delays, restart intensity, circuit breakers."""

from __future__ import annotations

import random

import hypothesis.strategies as st
from hypothesis import given

from actors.supervision.policy import (
    BreakerPolicy,
    BreakerState,
    GiveUp,
    Restart,
    RestartPolicy,
    RetryPolicy,
    StallPolicy,
    breaker_allows,
    breaker_record,
    on_child_failure,
    retry_delay,
    stall_delay,
)


@given(
    attempt=st.integers(1, 40),
    base=st.floats(0.01, 100),
    cap=st.floats(0.01, 10_000),
    seed=st.integers(0, 2**32),
)
def test_retry_delays_use_full_jitter_within_the_exponential_ceiling(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    delay = retry_delay(attempt, RetryPolicy(base_s=base, cap_s=cap), random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2 ** (attempt - 1))


@given(
    gaps=st.lists(st.floats(0, 100), min_size=1, max_size=30),
    max_restarts=st.integers(0, 6),
    within=st.floats(1, 300),
)
def test_restart_intensity_escalates_exactly_when_too_many_crashes_fall_in_the_window(
    gaps: list[float], max_restarts: int, within: float
) -> None:
    policy = RestartPolicy(max_restarts=max_restarts, within_s=within)
    kept: tuple[float, ...] = ()
    now = 0.0
    history: list[float] = []
    for gap in gaps:
        now += gap
        history.append(now)
        kept, decision = on_child_failure(kept, now, policy)
        recent = [t for t in history if now - t < within]
        if len(recent) > max_restarts:
            assert isinstance(decision, GiveUp)
        else:
            assert isinstance(decision, Restart)
            assert decision.delay_s >= 0


calls = st.lists(
    st.tuples(st.floats(0, 20), st.booleans(), st.booleans()), min_size=1, max_size=120
)


@given(calls=calls)
def test_the_breaker_never_lets_calls_through_while_open_and_probes_one_at_a_time(
    calls: list[tuple[float, bool, bool]],
) -> None:
    policy = BreakerPolicy(window_s=30, buckets=10, min_calls=5, failure_rate=0.5, open_s=5)
    state = BreakerState()
    now = 0.0
    for gap, ok, finishes in calls:
        now += gap
        before = state
        allowed, state, _ = breaker_allows(state, now, policy)
        if before.phase == "open" and now - before.opened_at < before.open_for:
            assert not allowed, "an open breaker let a call through before its time"
        if before.phase == "half_open" and before.probing:
            assert not allowed, "a second probe went through while one was outstanding"
        if not (allowed and finishes):
            continue
        previous = state
        state, transition = breaker_record(state, ok, now, policy)
        if transition == "closed":
            assert previous.phase == "half_open", "closed without a probe"
            assert ok, "closed on a failed probe"
        if transition == "opened" and previous.phase == "closed":
            assert not ok, "opened on a success"
            total, rate = state_after_counting(previous, ok, now, policy)
            by_rate = total >= policy.min_calls and rate >= policy.failure_rate
            in_a_row = previous.consecutive + 1 >= policy.consecutive_failures
            assert by_rate or in_a_row, "opened without enough failures"


def state_after_counting(
    state: BreakerState, ok: bool, now: float, policy: BreakerPolicy
) -> tuple[int, float]:
    """The window's call count and failure rate once this call is counted (a model)."""
    kept = [b for b in state.window if now - b[0] < policy.window_s]
    good = sum(b[1] for b in kept) + int(ok)
    bad = sum(b[2] for b in kept) + int(not ok)
    return good + bad, bad / (good + bad)


@given(failures=st.integers(0, 20), successes=st.integers(0, 20))
def test_the_breaker_opens_only_past_the_failure_rate_with_enough_calls(
    failures: int, successes: int
) -> None:
    policy = BreakerPolicy(
        window_s=60, buckets=6, min_calls=5, failure_rate=0.5, consecutive_failures=7
    )
    state = BreakerState()
    opened_at_call: int | None = None
    sequence = [True] * successes + [False] * failures
    for n, ok in enumerate(sequence, start=1):
        state, transition = breaker_record(state, ok, 1.0, policy)
        if transition == "opened":
            opened_at_call = n
            break
    bad = failures
    total = successes + failures
    # The model: after k failures in a row (following the successes), the rate rule or the
    # consecutive-failures rule has fired.
    should_open = any(
        ((successes + k) >= 5 and k / (successes + k) >= 0.5) or k >= policy.consecutive_failures
        for k in range(1, bad + 1)
    )
    assert (opened_at_call is not None) == should_open, (opened_at_call, successes, failures, total)


def test_an_open_breaker_half_opens_after_its_time_then_closes_on_a_good_probe() -> None:
    policy = BreakerPolicy(min_calls=1, failure_rate=0.5, open_s=5)
    state, transition = breaker_record(BreakerState(), False, 0.0, policy)
    assert transition == "opened"
    allowed, state, transition = breaker_allows(state, 4.9, policy)
    assert not allowed
    assert transition is None
    allowed, state, transition = breaker_allows(state, 5.0, policy)
    assert allowed
    assert transition == "half_opened"
    state, transition = breaker_record(state, True, 5.1, policy)
    assert transition == "closed"
    assert state.phase == "closed"


def test_a_failed_probe_opens_the_breaker_again_for_longer() -> None:
    policy = BreakerPolicy(min_calls=1, failure_rate=0.5, open_s=5, max_open_s=60)
    state, _ = breaker_record(BreakerState(), False, 0.0, policy)
    _, state, _ = breaker_allows(state, 5.0, policy)
    state, transition = breaker_record(state, False, 5.0, policy)
    assert transition == "opened"
    assert state.open_for == 10.0


def test_a_job_the_log_refuses_waits_half_as_long_as_the_refusal_within_bounds() -> None:
    policy = StallPolicy()
    rng = random.Random(7)
    assert 0.4 <= stall_delay(0.0, policy, rng) <= 0.6, "a fresh refusal: about half a second"
    assert 8.0 <= stall_delay(20.0, policy, rng) <= 12.0, "20 s of refusal: about 10 s"
    assert 24.0 <= stall_delay(3600.0, policy, rng) <= 36.0, "an hour of refusal: about 30 s"


@given(shorter=st.floats(0, 10_000), longer=st.floats(0, 10_000), seed=st.integers(0, 2**32))
def test_a_longer_refusal_never_brings_the_job_back_sooner_on_the_same_draw(
    shorter: float, longer: float, seed: int
) -> None:
    shorter, longer = sorted((shorter, longer))
    policy = StallPolicy()
    early = stall_delay(shorter, policy, random.Random(seed))
    assert early <= stall_delay(longer, policy, random.Random(seed))
