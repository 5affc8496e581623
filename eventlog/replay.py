"""Replay: folding streams back into state, from snapshots where they help.

A `StreamFolder` knows how to fold one kind of stream (its initial state, its `evolve`, and
how to store its state in a snapshot). It gives three ways to rebuild state:

* `load(log, stream_id)`: one stream, from its snapshot plus the events after it, in one
  round trip. A snapshot is used only if it was written with the current
  `schema_version`, decodes, and does not claim a version the stream has not reached;
  otherwise the stream is folded from its first event and a fresh snapshot replaces the
  stale one, so the next boot is fast again.
* `load_open(log, prefix)`: every stream not yet closed. This is boot: it reads the
  `streams` rows of live streams and their tails, never the history of finished ones, so
  its cost grows with live work, not with the age of the log (`ReadStats` counts the rows).
* `fold_all(log)`: every event in seq order into per-stream state, for audits and
  projections that need all of history.

Snapshots are an optimisation only: deleting every one of them changes nothing but speed.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import msgspec

from eventlog.contract import EventLog
from eventlog.decoding import decode_body
from eventlog.errors import EventLogUnavailableError, WriterLostError
from eventlog.events import AnyEvent
from eventlog.records import Recorded
from eventlog.sqlite import SQLiteEventLog

S = TypeVar("S")


async def last_event(log: EventLog, stream_id: str, version: int) -> Recorded | None:
    """The newest event of a stream at `version` (what a state made of its last event needs,
    as a breaker's is), read alone rather than with the whole stream."""
    tail = await log.read_stream(stream_id, after_version=version - 1)
    return tail[-1] if tail else None


@dataclass(slots=True)
class Loaded(Generic[S]):
    """A stream's state and how it was rebuilt."""

    state: S
    version: int
    source: Literal["snapshot", "events"]
    events_read: int
    snapshot_written: bool = False


class StreamFolder(Generic[S]):
    """How to fold one kind of stream, and how to snapshot its state."""

    def __init__(
        self,
        *,
        initial: Callable[[], S],
        evolve: Callable[[S, AnyEvent], S],
        state_type: type[S],
        schema_version: int,
        snapshot_every: int = 64,
        snapshot_format: Literal["msgpack", "json"] = "msgpack",
    ) -> None:
        """
        Args:
            initial: the state of a stream with no events.
            evolve: the pure fold step.
            state_type: what snapshots decode to (any msgspec-serialisable type).
            schema_version: bump it when `state_type` changes shape; older snapshots are
                then ignored and rebuilt.
            snapshot_every: write a snapshot when a load folds at least this many events
                (0: never write).
            snapshot_format: how snapshots store the state. "json" for a state holding
                `msgspec.Raw` JSON, which msgpack would embed unchanged and so corrupt.
        """
        self.initial = initial
        self.evolve = evolve
        self.state_type = state_type
        self.schema_version = schema_version
        self.snapshot_every = snapshot_every
        self.snapshot_format = snapshot_format
        self._encoder: msgspec.json.Encoder | msgspec.msgpack.Encoder
        self._decoder: msgspec.json.Decoder[S] | msgspec.msgpack.Decoder[S]
        if snapshot_format == "json":
            self._encoder, self._decoder = msgspec.json.Encoder(), msgspec.json.Decoder(state_type)
        else:
            self._encoder = msgspec.msgpack.Encoder()
            self._decoder = msgspec.msgpack.Decoder(state_type)

    def encode(self, state: S) -> bytes:
        """A state as its snapshot stores it."""
        return self._encoder.encode(state)

    def decode(self, blob: bytes) -> S:
        """A snapshot's state; raises msgspec.DecodeError/ValidationError on a bad one."""
        return self._decoder.decode(blob)

    async def load(self, log: EventLog, stream_id: str, *, save: bool = True) -> Loaded[S]:
        """Rebuild one stream, from a usable snapshot if there is one.

        Args:
            save: write a fresh snapshot when the stored one was stale or the tail was long.
        """
        snap, rows = await log.read_with_snapshot(stream_id, self.schema_version)
        state, version = self.initial(), 0
        source: Literal["snapshot", "events"] = "events"
        stale = snap is not None
        if snap is not None and snap.usable(self.schema_version):
            try:
                state, version, source = self.decode(snap.state), snap.version, "snapshot"
                stale = False
            except (msgspec.DecodeError, msgspec.ValidationError):
                # No schema is -1, so this returns every event: refold from scratch.
                rows = (await log.read_with_snapshot(stream_id, -1))[1]
        for row in rows:
            state = self.evolve(state, decode_body(row))
            version = int(row[2])
        loaded = Loaded(state, version, source, len(rows))
        long_tail = self.snapshot_every > 0 and len(rows) >= self.snapshot_every
        if save and rows and (stale or long_tail):
            try:
                await log.save_snapshot(stream_id, version, self.schema_version, self.encode(state))
            except (EventLogUnavailableError, WriterLostError):
                # A snapshot only saves time: a log refusing writes (a full disk) must not
                # stop a load, and the next one writes it.
                return loaded
            loaded.snapshot_written = True
        return loaded

    async def load_open(
        self, log: EventLog, prefix: str = "", *, concurrency: int = 64, save: bool = True
    ) -> dict[str, Loaded[S]]:
        """Rebuild every stream that is not closed (boot), `concurrency` at a time."""
        streams = await log.open_streams(prefix)
        limit = asyncio.Semaphore(concurrency)
        loaded: dict[str, Loaded[S]] = {}

        async def one(stream_id: str) -> None:
            async with limit:
                loaded[stream_id] = await self.load(log, stream_id, save=save)

        async with asyncio.TaskGroup() as tg:
            for stream_id, _version in streams:
                tg.create_task(one(stream_id))
        return loaded

    async def fold_all(
        self,
        log: SQLiteEventLog,
        *,
        prefix: str = "",
        after_seq: int = 0,
        chunk: int = 5000,
        pause_gc: bool = True,
    ) -> dict[str, S]:
        """Fold every event after `after_seq`, in seq order, into per-stream state.

        The log is read a chunk ahead on the reader thread while the fold runs on a thread of
        its own (`SQLiteEventLog.fold_events`), so a replay uses two cores.

        Args:
            pause_gc: pause the cyclic garbage collector while folding. A bulk replay keeps
                one state per stream alive and allocates millions of short-lived objects, so
                the collector would rescan those states over and over (a third of the time
                in `bench/replay_throughput.py`) while finding nothing: decoded events and
                msgspec states hold no cycles, and reference counting frees them.
        """
        states: dict[str, S] = {}
        evolve, initial = self.evolve, self.initial
        get = states.get  # this loop runs once per event of the log

        def step(streams: list[str], events: list[AnyEvent]) -> None:
            for stream_id, event in zip(streams, events, strict=True):
                state = get(stream_id)
                states[stream_id] = evolve(initial() if state is None else state, event)

        paused = pause_gc and gc.isenabled()
        if paused:
            gc.disable()
        try:
            await log.fold_events(step, after_seq, chunk=chunk, prefix=prefix)
        finally:
            if paused:
                gc.enable()
        return states
