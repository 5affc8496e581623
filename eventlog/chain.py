"""The hash chain that makes the log tamper-evident.

Every event's hash covers its predecessor's hash, its own place in the log (seq, stream,
version) and its stored bytes, so editing, deleting, reordering or renumbering any event
changes every hash after it. The newest (seq, hash) is also kept as the `head` row of `meta`,
written in the same transaction as the events, so cutting events off the tail shows too.

The byte layout below is part of the file format: golden logs and archives written by older
versions are verified with it, so it must never change.
"""

from __future__ import annotations

import hashlib

import msgspec

GENESIS_HASH = b"\x00" * 32


def chain_hash(
    prev: bytes, seq: int, stream_id: str, version: int, type_: str, recorded_at: float, body: bytes
) -> bytes:
    """The hash of one event, given the hash of the event before it (or `GENESIS_HASH`)."""
    h = hashlib.sha256(prev)
    h.update(f"{seq}\x1f{stream_id}\x1f{version}\x1f{type_}\x1f{recorded_at!r}\x1f".encode())
    h.update(body)
    return h.digest()


def encode_head(seq: int, hash_: bytes) -> bytes:
    """The `meta` row that records the newest event: `[seq, "hex hash"]`."""
    return msgspec.json.encode([seq, hash_.hex()])


def decode_head(value: object) -> tuple[int, bytes]:
    """Inverse of `encode_head` (also given the TEXT an edit through SQL may leave).

    Raises:
        ValueError: the value is not `[seq, "hex hash"]`.
    """
    try:
        if not isinstance(value, bytes | str):
            raise TypeError(f"a {type(value).__name__}")
        seq, hex_hash = msgspec.json.decode(value, type=tuple[int, str])
        return seq, bytes.fromhex(hex_hash)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError) as exc:
        raise ValueError(f"head record {value!r:.80} is not [seq, hex hash]") from exc
