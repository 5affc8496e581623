"""Reading events stored under tags that no current class carries.

A stored event is permanent, so a breaking change to an event never rewrites old rows: the
new shape gets a new class with a new tag, and the old tag gets an upcaster here, a pure
function from the old JSON object to a newer one. Upcasters chain (an old tag may upcast to
another old tag), and the result is validated against the current classes like any row.
Upcasting happens only when reading; the hash chain always covers the bytes as stored.

Decoding tries the current union first, so current rows never pay for this; only a row whose
tag the union rejects is looked up here.

Legacy tags. The pre-release prototype (the shapes in STYLE.md §3, and the golden log
`tests/golden/prototype_v0.jsonl`) put the job id in `task_id` and Druid's id in
`druid_task_id`, and recorded every status poll as one `status_polled` event. The job-scoped
`task_id` was dropped when the stream id took over that role, so that `task_id` could name
the Druid task; every prototype event whose current namesake has a `task_id` therefore
had its own tag, upcast below. Tags whose events carry no `task_id` today (`job_accepted`,
`retry_scheduled`, `job_dead`, `cancel_requested`) kept their tag: the fields added since
all have defaults, and the prototype's extra `task_id` is an unknown field, ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from eventlog.events import EVENT_TYPES, AnyEvent, decode_event

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[str, Upcaster] = {}
MAX_STEPS = 16  # a longer chain is a cycle

_CURRENT_TAGS = frozenset(str(t.__struct_config__.tag) for t in EVENT_TYPES)
_RAW = msgspec.json.Decoder(dict[str, Any])


class UpcastError(ValueError):
    """A stored event's tag is unknown, or its upcasters do not reach a current tag."""


def upcaster(old_tag: str) -> Callable[[Upcaster], Upcaster]:
    """Register `fn` as the upcaster of `old_tag`, which no current class may carry."""
    if old_tag in _CURRENT_TAGS:
        raise ValueError(f"tag {old_tag!r} belongs to a current event class; it cannot be upcast")

    def register(fn: Upcaster) -> Upcaster:
        if old_tag in UPCASTERS:
            raise ValueError(f"tag {old_tag!r} already has an upcaster")
        UPCASTERS[old_tag] = fn
        return fn

    return register


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """Apply upcasters until the object carries a current tag."""
    for _ in range(MAX_STEPS):
        tag = raw.get("type")
        if tag in _CURRENT_TAGS:
            return raw
        fn = UPCASTERS.get(tag) if isinstance(tag, str) else None
        if fn is None:
            raise UpcastError(f"event type {tag!r} is neither current nor upcastable")
        try:
            raw = fn(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise UpcastError(f"cannot upcast a {tag!r} event ({exc!r} in {raw!r:.200})") from exc
    raise UpcastError(f"upcasters for {raw.get('type')!r} did not settle in {MAX_STEPS} steps")


def decode_stored(body: bytes) -> AnyEvent:
    """Decode one stored body, upcasting an old tag.

    Raises:
        msgspec.DecodeError: the body is not JSON.
        msgspec.ValidationError: the (upcast) object does not fit its class.
        UpcastError: the tag is unknown.
    """
    try:
        return decode_event(body)
    except msgspec.ValidationError:
        raw = _RAW.decode(body)
        if raw.get("type") in _CURRENT_TAGS:
            raise  # a current tag with a bad shape: corruption, not history
    event: AnyEvent = msgspec.convert(upcast(raw), AnyEvent)
    return event


# --- the prototype's events --------------------------------------------------------------


@upcaster("ingestion_requested")
def _ingestion_requested(raw: dict[str, Any]) -> dict[str, Any]:
    """Prototype write-ahead intent -> `submit_intended`."""
    return {
        "type": "submit_intended",
        "at": raw["at"],
        "attempt": raw["attempt"],
        "task_id": raw["druid_task_id"],
    }


@upcaster("ingestion_submitted")
def _ingestion_submitted(raw: dict[str, Any]) -> dict[str, Any]:
    """Prototype POST outcome -> `submitted`."""
    return {
        "type": "submitted",
        "at": raw["at"],
        "attempt": raw["attempt"],
        "task_id": raw["druid_task_id"],
    }


@upcaster("status_polled")
def _status_polled(raw: dict[str, Any]) -> dict[str, Any]:
    """One prototype poll -> `status_observed`, `task_succeeded` or `task_failed`."""
    status = raw["status"]
    task_id = raw["druid_task_id"]
    duration = raw.get("duration")
    if status == "SUCCESS":
        return {
            "type": "task_succeeded",
            "at": raw["at"],
            "task_id": task_id,
            "duration_ms": -1 if duration is None else duration,
        }
    if status == "FAILED":
        return {
            "type": "task_failed",
            "at": raw["at"],
            "task_id": task_id,
            "error_msg": raw.get("error"),
            "duration_ms": -1 if duration is None else duration,
            "source": "status",
        }
    return {
        "type": "status_observed",
        "at": raw["at"],
        "task_id": task_id,
        "runner_status": status,
        "location": raw.get("location"),
    }


@upcaster("failure_diagnosed")
def _failure_diagnosed(raw: dict[str, Any]) -> dict[str, Any]:
    """Prototype classification -> `failure_classified` (it had no report excerpt)."""
    return {
        "type": "failure_classified",
        "at": raw["at"],
        "task_id": raw["druid_task_id"],
        "classification": raw["classification"],
        "rule": raw["rule"],
        "reason": raw["reason"],
    }


@upcaster("ingestion_cancelled")
def _ingestion_cancelled(raw: dict[str, Any]) -> dict[str, Any]:
    """Prototype cancellation -> `job_cancelled`."""
    return {"type": "job_cancelled", "at": raw["at"], "task_id": raw.get("druid_task_id")}
