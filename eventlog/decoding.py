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
        CorruptEventError: the body cannot be decoded.
    """
    try:
        return fast_decode(row[4])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return decode_stored_at(row[4], row[0], f"stream {row[1]!r} version {row[2]}")


def decode_stored_at(body: bytes, seq: int, where: str) -> AnyEvent:
    """A body the current union refuses: through the upcasters, or an error naming `seq`."""
    try:
        return decode_stored(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UpcastError) as exc:
        raise CorruptEventError(
            f"stored event of {where} cannot be decoded ({exc})", seq=int(seq)
        ) from exc


def decode_row(row: Row) -> Recorded:
    """A `(seq, stream_id, version, recorded_at, body)` row as a `Recorded`."""
    return Recorded(row[0], row[1], row[2], row[3], decode_body(row))
