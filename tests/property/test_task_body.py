"""The body each attempt POSTs: the stored spec's JSON with the attempt's task id set."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.job.stream import task_body
from eventlog.events import spec_raw
from specs.compiler import builtin_template, compile_job
from specs.intervals import Interval

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
# Keys that may hide an "id" where only a top-level one counts.
keys = st.sampled_from(["id", "type", "spec", "context", '"id"', "ID"]) | st.text(max_size=5)
specs = st.dictionaries(keys, json_values, max_size=6)
task_ids = st.text(min_size=1, max_size=30)


def pairs(body: bytes) -> list[tuple[str, Any]]:
    """The top-level key/value pairs as written, duplicates included."""
    found: list[list[tuple[str, Any]]] = []

    def keep(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found.append(items)
        return dict(items)

    json.loads(body, object_pairs_hook=keep)
    return found[-1]  # the outermost object is closed last


@given(specs, task_ids)
def test_the_body_is_the_spec_with_exactly_one_id_the_attempts(
    spec: dict[str, Any], task_id: str
) -> None:
    body = bytes(task_body(spec_raw(spec), task_id))
    written = pairs(body)
    assert [k for k, _ in written].count("id") == 1, body
    assert dict(written) == {**spec, "id": task_id}


def test_a_compiled_spec_is_sent_as_stored_with_the_id_in_front() -> None:
    job = compile_job(builtin_template(), Interval.parse("2024-01-01/P1D"))
    body = bytes(task_body(job.spec_json, "t_1"))
    assert body == b'{"id":"t_1",' + bytes(job.spec_json)[1:]
    assert json.loads(body) == {"id": "t_1", **job.spec}


def test_a_spec_that_is_not_an_object_is_refused_with_what_it_is() -> None:
    with pytest.raises(msgspec.ValidationError, match="Expected `object`, got `array`"):
        task_body(msgspec.Raw(b"[1, 2]"), "t_1")
