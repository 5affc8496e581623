"""Supervision policy as pure functions: retry backoff, restart intensity, circuit breakers.

Nothing here reads the clock or draws random numbers by itself: `now` and the random
generator come in as arguments, so hypothesis can drive every function directly.
"""

from __future__ import annotations

import random
from typing import Annotated, Literal

import msgspec
from msgspec.structs import replace

# --- retries -------------------------------------------------------------------------------


# The bounds on the policies here are checked when the configuration is decoded, so a
# mistake is reported with its key instead of surfacing later as a division by zero, a
# breaker that never opens or a restart loop with no pause.
class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    base_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    cap_s: Annotated[float, msgspec.Meta(gt=0)] = 900.0


def retry_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))] after failed `attempt`."""
    ceiling = min(policy.cap_s, policy.base_s * (2 ** max(0, attempt - 1)))
    return rng.uniform(0.0, ceiling)


# --- a log that refuses writes ------------------------------------------------------------


class StallPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """When to restart a job whose write the log refused (a full disk, a read-only file)."""

    min_s: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    max_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # The wait grows with the refusal: a log refusing for a minute is not back in a second.
    growth: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    # Jobs refused together must not all come back in the same instant.
    jitter_low: Annotated[float, msgspec.Meta(gt=0)] = 0.8
    jitter_high: Annotated[float, msgspec.Meta(gt=0)] = 1.2


def stall_delay(refused_for_s: float, policy: StallPolicy, rng: random.Random) -> float:
    """Seconds before restarting a job the log has been refusing for `refused_for_s`: that
    times `growth`, kept within [min_s, max_s], then jittered by [jitter_low, jitter_high]."""
    base = min(policy.max_s, max(policy.min_s, refused_for_s * policy.growth))
    return base * rng.uniform(policy.jitter_low, policy.jitter_high)


# --- restart intensity (OTP style) ---------------------------------------------------------


class RestartPolicy(msgspec.Struct, frozen=True, kw_only=True):
    max_restarts: Annotated[int, msgspec.Meta(ge=0)] = 3
    within_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    delay_s: Annotated[float, msgspec.Meta(ge=0)] = 0.1


class Restart(msgspec.Struct, frozen=True):
    delay_s: float


class GiveUp(msgspec.Struct, frozen=True):
    reason: str


def on_child_failure(
    crashes: tuple[float, ...], now: float, policy: RestartPolicy
) -> tuple[tuple[float, ...], Restart | GiveUp]:
    """Record a crash at `now`; restart unless more than `max_restarts` fell within `within_s`.

    Returns the crash times still inside the window (to keep) and the decision.
    """
    recent = (*(t for t in crashes if now - t < policy.within_s), now)
    if len(recent) > policy.max_restarts:
        return recent, GiveUp(
            f"{len(recent)} crashes within {policy.within_s:g}s exceed the restart intensity "
            f"of {policy.max_restarts}"
        )
    return recent, Restart(policy.delay_s * (2 ** (len(recent) - 1)))


# --- circuit breakers ----------------------------------------------------------------------

BreakerPhase = Literal["closed", "open", "half_open"]


class BreakerPolicy(msgspec.Struct, frozen=True, kw_only=True):
    window_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    buckets: Annotated[int, msgspec.Meta(ge=1)] = 10
    min_calls: Annotated[int, msgspec.Meta(ge=1)] = 5
    # A fraction: 50 (meant as a percentage) would never open the breaker.
    failure_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    open_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    max_open_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    # Opens after this many failures in a row even if the window is full of older successes:
    # a rate alone reacts slowly right after a busy, healthy period.
    consecutive_failures: Annotated[int, msgspec.Meta(ge=1)] = 5

    def __post_init__(self) -> None:
        # A failed probe re-opens the breaker for twice as long, up to max_open_s: below
        # open_s, the breaker would re-open for less time after each failed probe, not more.
        if self.max_open_s < self.open_s:
            raise ValueError(
                f"max_open_s ({self.max_open_s:g}) must be at least open_s ({self.open_s:g})"
            )


class BreakerState(msgspec.Struct, frozen=True, kw_only=True):
    phase: BreakerPhase = "closed"
    opened_at: float = 0.0
    open_for: float = 0.0
    probing: bool = False
    consecutive: int = 0
    # (bucket start, successes, failures), oldest first, inside the window
    window: tuple[tuple[float, int, int], ...] = ()

    def failure_rate(self) -> tuple[int, float]:
        ok = sum(b[1] for b in self.window)
        bad = sum(b[2] for b in self.window)
        total = ok + bad
        return total, (bad / total if total else 0.0)


Transition = Literal["opened", "half_opened", "closed"] | None


def _bucketed(state: BreakerState, ok: bool, now: float, policy: BreakerPolicy) -> BreakerState:
    width = policy.window_s / policy.buckets
    start = now - (now % width)
    kept = [b for b in state.window if now - b[0] < policy.window_s]
    if kept and kept[-1][0] == start:
        s, good, bad = kept[-1]
        kept[-1] = (s, good + int(ok), bad + int(not ok))
    else:
        kept.append((start, int(ok), int(not ok)))
    return replace(state, window=tuple(kept))


def breaker_record(
    state: BreakerState, ok: bool, now: float, policy: BreakerPolicy
) -> tuple[BreakerState, Transition]:
    """Record one call's outcome; may open (or, from a probe, close or re-open) the breaker."""
    if state.phase == "half_open":
        if ok:
            return BreakerState(), "closed"
        return _open(state, now, policy, longer=True), "opened"
    if state.phase == "open":
        return state, None  # calls already in flight when it opened: ignore
    state = _bucketed(state, ok, now, policy)
    state = replace(state, consecutive=0 if ok else state.consecutive + 1)
    total, rate = state.failure_rate()
    if not ok and (
        (total >= policy.min_calls and rate >= policy.failure_rate)
        or state.consecutive >= policy.consecutive_failures
    ):
        return _open(state, now, policy, longer=False), "opened"
    return state, None


def _open(state: BreakerState, now: float, policy: BreakerPolicy, *, longer: bool) -> BreakerState:
    duration = (
        min(policy.max_open_s, state.open_for * 2) if longer and state.open_for else policy.open_s
    )
    return BreakerState(phase="open", opened_at=now, open_for=duration)


def breaker_allows(
    state: BreakerState, now: float, policy: BreakerPolicy
) -> tuple[bool, BreakerState, Transition]:
    """May a call go through now? Open turns half-open after its time; half-open lets one probe."""
    if state.phase == "closed":
        return True, state, None
    if state.phase == "open":
        if now - state.opened_at < state.open_for:
            return False, state, None
        return True, replace(state, phase="half_open", probing=True), "half_opened"
    if state.probing:
        return False, state, None
    return True, replace(state, probing=True), None


def breaker_retry_at(state: BreakerState) -> float | None:
    """When an open breaker will let a probe through."""
    if state.phase != "open":
        return None
    return state.opened_at + state.open_for
