"""Deciding one command and appending what it causes, under optimistic concurrency: the loop
every stream's one writer runs (`actors.job.stream.JobStreams`,
`actors.streams.stream.SupervisorStreams`).

A conflict decides again on the stream as it now is. A writer lost with the append in flight
is settled by reading the stream back: a write that landed must not be recorded twice, and
one that did not is decided again. The events are folded before anything is written, so an
illegal transition is refused without touching the log.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from eventlog import EventLog
from eventlog.errors import ConcurrencyConflictError, WriterLostError
from eventlog.events import Event

__all__ = ["landed", "record_decision"]


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


S = TypeVar("S", bound=_Versioned)


async def landed(log: EventLog, stream: str, version: int, events: Sequence[Any]) -> bool:
    """Whether `events`, appended at `version`, are in `stream`: the answer to an append
    whose writer died with it in flight (`WriterLostError`), committed or not."""
    recorded = await log.read_stream(stream, after_version=version)
    return [r.event for r in recorded[: len(events)]] == list(events)


async def record_decision(
    log: EventLog,
    stream: str,
    state: S | None,
    *,
    load: Callable[[], Awaitable[S]],
    decide: Callable[[S], Sequence[Event]],
    fold: Callable[[Sequence[Event], S], S],
    tries: int,
    options: Callable[[S], Mapping[str, Any]] | None = None,
) -> tuple[S, Sequence[Event], float]:
    """Decide on `state` (or on the stream as `load` reads it), fold, and append.

    `options(new_state)` gives the append's keyword arguments (closing the stream, the
    read model's row). Returns the state after, the events written (none: nothing to
    write) and the append's seconds.

    Raises:
        ConcurrencyConflictError: others kept writing; `tries` decisions all came late.
        WriterLostError: the last try's write was lost, and did not land.
        EventLogUnavailableError, StreamArchivedError: as `EventLog.append`.
    """
    for tries_left in range(tries - 1, -1, -1):
        if state is None:
            state = await load()
        events = decide(state)
        if not events:
            return state, (), 0.0
        new = fold(events, state)  # validates before anything is written
        started = time.perf_counter()
        try:
            extra = options(new) if options is not None else {}
            await log.append(stream, events, state.version, **extra)
        except ConcurrencyConflictError:
            if not tries_left:
                raise
            state = None
            continue
        except WriterLostError:
            if not await landed(log, stream, state.version, events):
                if not tries_left:
                    raise
                state = None
                continue
        return new, events, time.perf_counter() - started
    raise ValueError(f"record needs at least one try, not {tries}")
