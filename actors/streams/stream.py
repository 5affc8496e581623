"""The one writer of supervisor streams: decide, fold, append, and settle a lost or raced write.

Every change to a `supervisor:<id>` stream goes through `SupervisorStreams.record`, whoever
asks (the supervisor's actor, a person through the facade, the boot reconciliation), so a
conflict or a writer lost with the append in flight is answered in one place, as
`actors.job.stream` answers it for jobs.

Supervisor streams are never closed: terminated is terminal only until a new apply
re-creates the supervisor, and there are few of them, so boot folds them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from actors.recording import record_decision
from actors.stream_names import SUPERVISOR_PREFIX, supervisor_of_stream, supervisor_stream
from actors.streams.evolve import fold
from actors.streams.fsm import decide
from actors.streams.messages import Command
from actors.streams.state import SupervisorState
from eventlog import EventLog
from eventlog.events import Event
from eventlog.records import Recorded

__all__ = ["SupervisorStreams", "SupervisorTransition"]


class SupervisorTransition(msgspec.Struct, frozen=True):
    """What one `record` wrote: the state after it, and the events (none when the command
    changed nothing, or another writer had recorded it first)."""

    state: SupervisorState
    events: Sequence[Event] = ()


Listener = Callable[[SupervisorTransition], None]


class SupervisorStreams:
    def __init__(self, event_log: EventLog) -> None:
        self.log = event_log
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` after every recorded transition; returns what stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def ids(self) -> list[str]:
        """Every supervisor the log has a stream for, terminated ones included."""
        streams = await self.log.all_streams(SUPERVISOR_PREFIX)
        return sorted(supervisor_of_stream(sid) for sid, _version, _closed in streams)

    async def load(self, supervisor_id: str) -> SupervisorState:
        return fold(r.event for r in await self.history(supervisor_id))

    async def history(self, supervisor_id: str) -> list[Recorded]:
        return await self.log.read_stream(supervisor_stream(supervisor_id))

    async def record(
        self,
        supervisor_id: str,
        command: Command,
        *,
        state: SupervisorState | None = None,
        tries: int = 3,
    ) -> SupervisorTransition:
        """Decide `command` on the supervisor's state and append what it causes.

        `state` is the caller's current state, used for the first try instead of reading
        the stream. A conflict decides again on the stream as it now is; a lost writer is
        settled by reading the stream back, and retried only if the write did not land.

        Raises:
            ConcurrencyConflictError: others kept writing; `tries` decisions all came late.
            WriterLostError: the last try's write was lost, and did not land.
            EventLogUnavailableError: as `EventLog.append`.
        """
        new, events, _append_s = await record_decision(
            self.log,
            supervisor_stream(supervisor_id),
            state,
            load=lambda: self.load(supervisor_id),
            decide=lambda current: decide(current, command),
            fold=fold,
            tries=tries,
        )
        if not events:
            return SupervisorTransition(new)
        recorded = SupervisorTransition(new, events)
        for listener in list(self._listeners):
            listener(recorded)
        return recorded
