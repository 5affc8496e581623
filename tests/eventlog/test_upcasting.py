"""Schema evolution: current events round-trip; retired tags decode through upcasters."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlog.events import (
    EVENT_TYPES,
    AnyEvent,
    JobAccepted,
    JobCancelled,
    StatusObserved,
    Submitted,
    TaskFailed,
    TaskSucceeded,
    decode_event,
    encode_event,
    event_tag,
    spec_raw,
)
from eventlog.upcasting import UPCASTERS, UpcastError, decode_stored, upcast, upcaster

finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | finite | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    """Field values that JSON can carry faithfully (finite floats; JSON-shaped `Any`)."""
    if hint is float:
        return finite
    if hint == float | None:
        return st.none() | finite
    if hint == dict[str, Any]:
        return st.dictionaries(st.text(max_size=5), json_values, max_size=3)
    if hint == dict[str, Any] | None:
        return st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3)
    if hint is msgspec.Raw:  # a task spec, stored as its JSON
        return st.dictionaries(st.text(max_size=5), json_values, max_size=3).map(spec_raw)
    return st.from_type(hint)


events = st.one_of(
    [
        st.builds(cls, **{f.name: strategy_for(f.type) for f in msgspec.structs.fields(cls)})
        for cls in EVENT_TYPES
    ]
)


@given(events)
def test_every_current_event_round_trips_unchanged(event: Any) -> None:
    body = encode_event(event)
    assert decode_stored(body) == event
    assert decode_event(body) == event


def test_every_event_class_has_a_unique_explicit_tag_and_none_is_upcast() -> None:
    tags = [str(cls.__struct_config__.tag) for cls in EVENT_TYPES]
    assert len(tags) == len(set(tags))
    assert not set(tags) & set(UPCASTERS)
    for cls in EVENT_TYPES:
        assert cls.__struct_config__.tag != cls.__name__, "tags are explicit strings"


def test_a_field_added_with_a_default_still_reads_old_rows() -> None:
    # Rows written before `max_attempts` and `pipeline` existed.
    old = b'{"type":"job_accepted","at":1.0,"job_id":"j","datasource":"d","interval":"i",'
    old += b'"spec":{},"spec_hash":"h","task_id":"a prototype field, now ignored"}'
    event = decode_stored(old)
    assert isinstance(event, JobAccepted)
    assert (event.max_attempts, event.pipeline) == (3, None)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("RUNNING", StatusObserved(at=5.0, task_id="d1", runner_status="RUNNING", location="mm")),
        ("PENDING", StatusObserved(at=5.0, task_id="d1", runner_status="PENDING", location="mm")),
        ("SUCCESS", TaskSucceeded(at=5.0, task_id="d1", duration_ms=42)),
        ("FAILED", TaskFailed(at=5.0, task_id="d1", error_msg="boom", duration_ms=42)),
    ],
)
def test_a_prototype_status_poll_becomes_the_event_its_status_means(
    status: str, expected: AnyEvent
) -> None:
    body = msgspec.json.encode(
        {
            "type": "status_polled",
            "task_id": "the job id",
            "at": 5.0,
            "druid_task_id": "d1",
            "status": status,
            "location": "mm",
            "duration": 42,
            "error": "boom",
        }
    )
    assert decode_stored(body) == expected


def test_prototype_submissions_and_cancellations_upcast_to_their_current_tags() -> None:
    submitted = b'{"type":"ingestion_submitted","task_id":"job","at":2.0,"attempt":2,'
    submitted += b'"druid_task_id":"d2"}'
    assert decode_stored(submitted) == Submitted(at=2.0, attempt=2, task_id="d2")
    cancelled = b'{"type":"ingestion_cancelled","task_id":"job","at":3.0}'
    assert decode_stored(cancelled) == JobCancelled(at=3.0, task_id=None)


def test_an_unknown_tag_is_an_error_naming_the_tag() -> None:
    with pytest.raises(UpcastError, match="'brand_new_event' is neither current nor upcastable"):
        decode_stored(b'{"type":"brand_new_event","at":1.0}')


def test_a_current_tag_with_a_broken_shape_is_not_upcast_but_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="runner_status"):
        decode_stored(b'{"type":"status_observed","at":1.0,"task_id":"t"}')


def test_an_old_event_missing_a_field_its_upcaster_needs_is_an_error_naming_it() -> None:
    with pytest.raises(UpcastError, match="druid_task_id"):
        decode_stored(b'{"type":"ingestion_submitted","at":1.0,"attempt":1}')


def test_upcasters_chain_and_a_cycle_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(UPCASTERS, "v0_hop", lambda raw: {**raw, "type": "ingestion_submitted"})
    chained = upcast({"type": "v0_hop", "at": 1.0, "attempt": 1, "druid_task_id": "d"})
    assert chained["type"] == "submitted"
    monkeypatch.setitem(UPCASTERS, "ping", lambda raw: {**raw, "type": "pong"})
    monkeypatch.setitem(UPCASTERS, "pong", lambda raw: {**raw, "type": "ping"})
    with pytest.raises(UpcastError, match="did not settle"):
        upcast({"type": "ping"})


def test_a_current_tag_cannot_be_given_an_upcaster() -> None:
    with pytest.raises(ValueError, match="belongs to a current event class"):
        upcaster(event_tag(StatusObserved(at=1.0, task_id="t", runner_status="R")))
