"""Stored event bodies back to events: the fast path for current rows, the upcasters for
older ones, and an error naming the seq for a body neither can read."""

from __future__ import annotations

from typing import Any

import msgspec

from eventlog.errors import CorruptEventError
from eventlog.events import AnyEvent
from eventlog.records import Recorded
from eventlog.upcasting import UpcastError, decode_stored

Row = tuple[Any, ...]

fast_decode = msgspec.json.Decoder(AnyEvent).decode  # current rows only; no upcasting


def decode_body(row: Row) -> AnyEvent:
    """The event of a `(seq, stream_id, version, recorded_at, body)` row.

    Current rows take one C call; only a row the union refuses goes on to the upcasters
    (or, if they cannot read it either, to an error naming its seq).

    Raises:
        CorruptEventError: the body cannot be decoded, or is not bytes or text at all.
    """
    body = row[4]
    if not isinstance(body, bytes):
        body = _as_bytes(row)
    try:
        return fast_decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return decode_stored_at(body, row[0], f"stream {row[1]!r} version {row[2]}")


def _as_bytes(row: Row) -> bytes:
    """The body of a row whose body column is not a BLOB (an edit through SQL): TEXT is
    read as its bytes; anything else (an integer must never reach `bytes(n)`) is refused."""
    body = row[4]
    if isinstance(body, str):
        return body.encode()
    raise CorruptEventError(
        f"stored event of stream {row[1]!r} version {row[2]!r} is a {type(body).__name__}, "
        "not an encoded event",
        seq=_seq(row[0]),
    )


def _seq(value: object) -> int | None:
    return value if isinstance(value, int) else None


def decode_stored_at(body: bytes, seq: int, where: str) -> AnyEvent:
    """A body the current union refuses: through the upcasters, or an error naming `seq`."""
    try:
        return decode_stored(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UpcastError) as exc:
        raise CorruptEventError(
            f"stored event of {where} cannot be decoded ({exc})", seq=_seq(seq)
        ) from exc


def decode_row(row: Row) -> Recorded:
    """A `(seq, stream_id, version, recorded_at, body)` row as a `Recorded`."""
    return Recorded(row[0], row[1], row[2], row[3], decode_body(row))
