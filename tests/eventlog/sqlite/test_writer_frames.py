"""The SQLite writer's wire format: frames over its socket."""

from __future__ import annotations

import pytest

from eventlog.sqlite.writer_frames import HEADER, MAX_FRAME, frame, take_frames


def test_whole_frames_are_taken_and_a_partial_one_waits_for_the_rest() -> None:
    stream = frame(b"one") + frame(b"") + frame(b"three")
    buffer = bytearray(stream[:-2])
    assert take_frames(buffer) == [b"one", b""]
    assert bytes(buffer) == stream[len(frame(b"one") + frame(b"")) : -2]
    buffer += stream[-2:]
    assert take_frames(buffer) == [b"three"]
    assert buffer == bytearray()


def test_an_impossible_length_is_a_garbled_stream() -> None:
    buffer = bytearray(frame(b"ok") + HEADER.pack(MAX_FRAME + 1) + b"x")
    with pytest.raises(ValueError, match="garbled stream: a frame of"):
        take_frames(buffer)
