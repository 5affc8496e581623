"""What the event loop and the writer say to each other over their socket.

Frames are a 4-byte little-endian length and a MessagePack body. The loop side sends
`Open` once, then `Chunk`s of appends and snapshots and the odd `Sync` or `Reload`; the
writer answers every frame it has processed, in order, with one `Outcomes` per transaction
or control frame, holding one outcome per item. Because the socket keeps order and the
writer answers in order, the loop side matches outcomes to waiting callers by position
alone.

Errors cross as data (`Failed`, `Conflict`, `Archived`) and are rebuilt into the same
exception classes, with the same messages, on the loop side.
"""

from __future__ import annotations

import struct
from typing import Literal

import msgspec

from eventlog.errors import (
    ConcurrencyConflictError,
    CorruptEventError,
    EventLogClosedError,
    EventLogError,
    EventLogUnavailableError,
    SchemaVersionError,
    StreamArchivedError,
)
from eventlog.summary_codec import SummaryDraft

HEADER = struct.Struct("<I")
MAX_FRAME = 1 << 30  # a length past this is a garbled stream, not a frame


class AppendItem(msgspec.Struct, frozen=True, array_like=True, tag=1):
    stream_id: str
    expected_version: int
    close_stream: bool
    events: list[tuple[str, bytes]]  # (tag, body), encoded by the caller
    reopen_stream: bool = False  # a closed stream live again (a retried job)
    # The job's summary after these events, written in the same transaction (the writer
    # stamps its position): plain data, since the writer may be another process.
    summary: SummaryDraft | None = None


class SnapshotItem(msgspec.Struct, frozen=True, array_like=True, tag=2):
    stream_id: str
    version: int
    schema_version: int
    state: bytes


class Open(msgspec.Struct, frozen=True, array_like=True, tag=3):
    path: str
    synchronous: str
    max_batch: int
    max_size_bytes: int | None
    page_size: int


class Chunk(msgspec.Struct, frozen=True, array_like=True, tag=4):
    now: float  # the loop side's clock when the chunk was sent; stamps its events
    items: list[AppendItem | SnapshotItem]


class Sync(msgspec.Struct, frozen=True, array_like=True, tag=5):
    """Answered once everything sent before it has been answered: a barrier."""


class Reload(msgspec.Struct, frozen=True, array_like=True, tag=6):
    """Another connection changed the file: reload the head and forget cached versions."""


Request = Open | Chunk | Sync | Reload
Item = AppendItem | SnapshotItem


class Appended(msgspec.Struct, frozen=True, array_like=True, tag=1):
    first_seq: int
    last_seq: int
    version: int


class Done(msgspec.Struct, frozen=True, array_like=True, tag=2):
    """A snapshot stored, or a control frame carried out."""


class Conflict(msgspec.Struct, frozen=True, array_like=True, tag=3):
    stream_id: str
    expected_version: int
    actual_version: int


class Archived(msgspec.Struct, frozen=True, array_like=True, tag=4):
    stream_id: str
    version: int
    archived_at: float


FailureKind = Literal["unavailable", "corrupt", "schema", "closed", "error"]


class Failed(msgspec.Struct, frozen=True, array_like=True, tag=5):
    kind: FailureKind
    message: str
    seq: int | None = None


Outcome = Appended | Done | Conflict | Archived | Failed


class Outcomes(msgspec.Struct, frozen=True, array_like=True):
    items: list[Outcome]


_KINDS: dict[type[BaseException], FailureKind] = {
    EventLogUnavailableError: "unavailable",
    CorruptEventError: "corrupt",
    SchemaVersionError: "schema",
    EventLogClosedError: "closed",
}


def failed(exc: BaseException) -> Failed:
    """An exception raised on the writer's side, as data."""
    kind: FailureKind = _KINDS.get(type(exc), "error")
    if isinstance(exc, CorruptEventError):
        return Failed(kind, exc.detail, exc.seq)
    return Failed(kind, str(exc) if isinstance(exc, EventLogError) else repr(exc))


def error_of(outcome: Conflict | Archived | Failed) -> EventLogError:
    """The exception a caller gets for an outcome that is not a success."""
    if type(outcome) is Conflict:
        return ConcurrencyConflictError(
            outcome.stream_id, outcome.expected_version, outcome.actual_version
        )
    if type(outcome) is Archived:
        return StreamArchivedError(outcome.stream_id, outcome.version, outcome.archived_at)
    assert type(outcome) is Failed
    if outcome.kind == "corrupt":
        return CorruptEventError(outcome.message, seq=outcome.seq)
    if outcome.kind == "unavailable":
        return EventLogUnavailableError(outcome.message)
    if outcome.kind == "schema":
        return SchemaVersionError(outcome.message)
    if outcome.kind == "closed":
        return EventLogClosedError(outcome.message)
    return EventLogError(outcome.message)


_encoder = msgspec.msgpack.Encoder()
request_decoder = msgspec.msgpack.Decoder(Request)
outcomes_decoder = msgspec.msgpack.Decoder(Outcomes)


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


def encode_frame(message: Request | Outcomes) -> bytes:
    """A request or an answer, encoded and framed for the socket."""
    return frame(_encoder.encode(message))


def take_frames(buffer: bytearray) -> list[bytes]:
    """Remove the whole frames at the front of `buffer` and return their bodies.

    Raises:
        ValueError: a frame claims an impossible length: the stream is garbled.
    """
    bodies: list[bytes] = []
    pos = 0
    try:
        while len(buffer) - pos >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, pos)
            if size > MAX_FRAME:
                raise ValueError(f"garbled stream: a frame of {size} bytes")
            end = pos + HEADER.size + size
            if len(buffer) < end:
                break
            bodies.append(bytes(buffer[pos + HEADER.size : end]))
            pos = end
    finally:
        del buffer[:pos]
    return bodies
