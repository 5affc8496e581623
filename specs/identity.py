"""Deterministic identity: canonical JSON, the spec hash, job ids and Druid task ids.

    job id   <prefix>_<datasource>_<start>_<end>_<hash12>
    task id  <job id>_<attempt>

The hash covers the whole task JSON except its `id` and the capacity-derived
`tuningConfig.maxNumConcurrentSubTasks`. That knob follows the cluster's free slots at compile
time; a job must keep its identity when capacity changes between a crash and the resubmission,
or the same work would be submitted twice under two ids. Every other change to the spec
changes the hash. The hash is a function of the spec alone, so anyone holding a spec (the
reconciler reading one back from Druid, say) can recompute it.

Ids stay inside Druid's id rules (REFERENCE.md section 3.1) and well under the 255 characters
of the metadata store's task id column.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import msgspec

from specs.errors import SpecError

__all__ = [
    "CAPACITY_FIELDS",
    "canonical_json",
    "id_problem",
    "job_id_for",
    "spec_hash",
    "task_id_for",
]

CAPACITY_FIELDS = ("maxNumConcurrentSubTasks",)
"""tuningConfig keys set from the cluster's free capacity, left out of the identity hash."""

MAX_ID_LENGTH = 255
_DATASOURCE_PART = 120  # longest datasource text kept in an id; the hash keeps ids distinct
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_ID_TIME = "%Y%m%dT%H%M%SZ"


def canonical_json(value: Any) -> bytes:
    """Compact JSON with keys sorted at every level: equal values give equal bytes."""
    return msgspec.json.encode(_sorted(value))


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def spec_hash(spec: dict[str, Any]) -> str:
    """sha256 (hex) of the canonical task JSON without its `id` and capacity-derived fields."""
    identity = {key: value for key, value in spec.items() if key != "id"}
    inner = identity.get("spec")
    if isinstance(inner, dict) and isinstance(inner.get("tuningConfig"), dict):
        tuning = {k: v for k, v in inner["tuningConfig"].items() if k not in CAPACITY_FIELDS}
        identity["spec"] = {**inner, "tuningConfig": tuning}
    return hashlib.sha256(canonical_json(identity)).hexdigest()


def id_problem(value: str) -> str | None:
    """Why Druid would refuse `value` as a task id, or None when it is acceptable."""
    if not value:
        return "it is empty"
    if value.startswith("."):
        return "it starts with '.'"
    if "/" in value:
        return "it contains '/'"
    if len(value) > MAX_ID_LENGTH:
        return f"it is {len(value)} characters long, more than {MAX_ID_LENGTH}"
    for position, char in enumerate(value):
        code = ord(char)
        if char != " " and char.isspace():
            return f"it contains whitespace other than a plain space at position {position}"
        if code < 32 or 127 < code < 159 or 0xD801 <= code <= 0xF8FE or 0xFFF1 <= code <= 0xFFFE:
            return f"it contains the disallowed character U+{code:04X} at position {position}"
    return None


def job_id_for(prefix: str, datasource: str, interval: Any, digest: str) -> str:
    """The job id of one compiled spec (`interval` has `start` and `end` datetimes).

    Raises:
        SpecError: the prefix would make an id Druid refuses.
    """
    start: datetime = interval.start
    end: datetime = interval.end
    source = _ID_UNSAFE.sub("-", datasource)[:_DATASOURCE_PART]
    raw = f"{prefix}_{source}_{start.strftime(_ID_TIME)}_{end.strftime(_ID_TIME)}_{digest[:12]}"
    job_id = _ID_UNSAFE.sub("-", raw)
    problem = id_problem(job_id)
    if problem is not None:
        raise SpecError(
            f"job id {job_id!r} is not a valid Druid task id: {problem}",
            path="$.task_id_prefix",
            rule="task-id",
        )
    return job_id


def task_id_for(job_id: str, attempt: int) -> str:
    """The Druid task id of attempt `attempt` (1-based) of a job."""
    return f"{job_id}_{attempt}"
