"""What the event loop and the SQLite writer say to each other over their socket.

Frames are a 4-byte little-endian length and a MessagePack body. The loop side sends
`Open` once, then `Chunk`s of appends and snapshots (`eventlog.writes.items`) and the odd
`Sync` or `Reload`; the writer answers every frame it has processed, in order, with one
`Outcomes` per transaction or control frame, holding one outcome per item. Because the
socket keeps order and the writer answers in order, the loop side matches outcomes to
waiting callers by position alone.
"""

from __future__ import annotations

import struct

import msgspec

from eventlog.writes.items import AppendItem, Outcome, SnapshotItem

HEADER = struct.Struct("<I")
MAX_FRAME = 1 << 30  # a length past this is a garbled stream, not a frame


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


class Outcomes(msgspec.Struct, frozen=True, array_like=True):
    items: list[Outcome]


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
