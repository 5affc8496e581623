"""Deterministic identity: the spec hash, job ids and Druid task ids."""

from __future__ import annotations

import re

import msgspec
import pytest

from specs import compiler
from specs.compiler import (
    builtin_template,
    canonical_json,
    compile_job,
    compile_range,
    job_id_for,
    spec_hash,
    task_id_for,
)
from specs.errors import SpecError
from specs.identity import id_problem
from specs.intervals import Interval

DAY = Interval.parse("2024-01-01/2024-01-02")


def test_a_job_id_names_prefix_datasource_interval_and_hash() -> None:
    job = compile_job(builtin_template(), DAY)
    assert re.fullmatch(
        r"orch_wikipedia_20240101T000000Z_20240102T000000Z_[0-9a-f]{12}", job.job_id
    )
    assert job.job_id.endswith(job.spec_hash[:12])
    assert task_id_for(job.job_id, 3) == f"{job.job_id}_3"
    assert id_problem(task_id_for(job.job_id, 3)) is None


def test_the_capacity_allowance_changes_the_spec_but_not_the_identity() -> None:
    small = compile_job(builtin_template(), DAY, max_sub_tasks=1)
    large = compile_job(builtin_template(), DAY)
    assert small.spec != large.spec
    assert small.spec["spec"]["tuningConfig"]["maxNumConcurrentSubTasks"] == 1
    assert (small.job_id, small.spec_hash) == (large.job_id, large.spec_hash)


def test_any_other_change_to_the_spec_changes_the_hash() -> None:
    spec = compile_job(builtin_template(), DAY).spec
    for change in (
        {"groupId": "g"},
        {"context": {"priority": 90}},
        {"resource": {"availabilityGroup": "a"}},
    ):
        assert spec_hash({**spec, **change}) != spec_hash(spec)
    assert spec_hash({**spec, "id": "anything"}) == spec_hash(spec)


def test_the_canonical_json_sorts_keys_at_every_level_and_has_no_whitespace() -> None:
    assert canonical_json({"b": [{"d": 1, "c": 2}], "a": None}) == b'{"a":null,"b":[{"c":2,"d":1}]}'


def test_ids_replace_characters_druid_refuses_and_stay_short() -> None:
    job_id = job_id_for("orch", "weird name/with slash" + "x" * 400, DAY, "f" * 64)
    assert id_problem(job_id) is None
    assert len(task_id_for(job_id, 999)) < 255
    assert "/" not in job_id
    assert " " not in job_id


def test_a_prefix_druid_would_refuse_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as caught:
        job_id_for(".hidden", "wiki", DAY, "0" * 64)
    assert caught.value.rule == "task-id"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "empty"),
        (".x", "starts with '.'"),
        ("a/b", "'/'"),
        ("a\tb", "whitespace"),
        ("a\u0090b", "U+0090"),
        ("a\ue000b", "U+E000"),
        ("x" * 256, "256 characters"),
    ],
)
def test_druid_id_rules_are_enforced(value: str, problem: str) -> None:
    found = id_problem(value)
    assert found is not None
    assert problem in found


def test_a_plain_space_is_allowed_in_a_druid_id() -> None:
    assert id_problem("a b") is None


def test_compile_with_a_capacity_is_compile_job_with_that_allowance() -> None:
    assert compiler.compile(builtin_template(), DAY, 1) == compile_job(
        builtin_template(), DAY, max_sub_tasks=1
    )


def test_compiling_twice_gives_identical_jobs() -> None:
    assert compile_job(builtin_template(), DAY) == compile_job(builtin_template(), DAY)


def test_renaming_the_pipeline_or_changing_its_retry_budget_keeps_the_job_id() -> None:
    template = builtin_template()
    job = compile_job(template, DAY)
    renamed = compile_job(msgspec.structs.replace(template, name="other", max_attempts=9), DAY)
    assert renamed.job_id == job.job_id
    assert (renamed.pipeline, renamed.max_attempts) == ("other", 9)


def test_a_range_gives_one_job_per_chunk_with_explicit_intervals() -> None:
    jobs = compile_range(builtin_template(), Interval.parse("2024-01-30/2024-02-02"))
    assert [j.interval.split("T")[0] for j in jobs] == ["2024-01-30", "2024-01-31", "2024-02-01"]
    for job in jobs:
        assert job.spec["spec"]["dataSchema"]["granularitySpec"]["intervals"] == [job.interval]
    assert len({j.job_id for j in jobs}) == 3


def test_a_range_with_free_slots_shares_them_among_its_jobs() -> None:
    jobs = compile_range(builtin_template(), Interval.parse("2024-01-01/P4D"), free_slots=10)
    allowances = [j.spec["spec"]["tuningConfig"]["maxNumConcurrentSubTasks"] for j in jobs]
    # Sequential jobs take one slot, parallel ones 1 + sub-tasks: 3 + 3 + 3 + 1 = 10.
    assert allowances == [2, 2, 2, 1]


def test_a_compiled_job_cannot_be_changed_after_its_hash_was_taken() -> None:
    job = compile_job(builtin_template(), DAY)
    spec = job.spec
    spec["spec"]["dataSchema"]["dataSource"] = "someone_else"
    spec["context"]["priority"] = 99
    assert job.spec != spec
    assert spec_hash(job.spec) == job.spec_hash
    assert msgspec.json.decode(job.spec_json) == job.spec  # what is recorded and posted
