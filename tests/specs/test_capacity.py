"""Capacity: free slots from `/workers`, and sub-task allowances that never overcommit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from specs.capacity import allocate_sub_tasks, free_slots, jobs_that_fit, slots_needed
from specs.errors import CapacityError, SpecError

RESPONSES = Path(__file__).resolve().parents[1] / "fixtures" / "druid-api" / "responses"


def worker(capacity: int, used: int, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "worker": {"host": f"h{capacity}{used}", "capacity": capacity, **extra.pop("w", {})},
        "currCapacityUsed": used,
    }
    row.update(extra)
    return row


def test_free_slots_of_the_documented_workers_responses() -> None:
    current = json.loads((RESPONSES / "workers_list_200.json").read_text())
    docs = json.loads((RESPONSES / "workers_list_200_docs_sample.json").read_text())
    assert free_slots(current) == 1  # capacity 2, one slot used
    assert free_slots(docs) == 2  # "blacklistedUntil": null is not blacklisted


def test_disabled_and_blacklisted_workers_offer_nothing() -> None:
    rows = [
        worker(4, 1),
        worker(4, 0, w={"disabled": True}),
        worker(4, 0, blacklistedUntil="2030-01-01T00:00:00.000Z"),
    ]
    assert free_slots(rows) == 3


def test_a_blacklist_that_has_expired_counts_again_when_now_is_given() -> None:
    rows = [worker(4, 0, blacklistedUntil="2024-01-01T00:00:00.000Z")]
    assert free_slots(rows) == 0
    assert free_slots(rows, now=datetime(2024, 6, 1, tzinfo=UTC)) == 4


def test_free_slots_can_be_counted_for_one_worker_category() -> None:
    rows = [worker(4, 1, w={"category": "hot"}), worker(8, 2, w={"category": "cold"})]
    assert free_slots(rows, category="hot") == 3
    assert free_slots(rows, category="cold") == 6
    assert free_slots(rows) == 9


def test_an_overloaded_worker_never_counts_negative() -> None:
    assert free_slots([worker(2, 5), worker(2, 0)]) == 2


def test_msgspec_structs_shaped_like_workers_rows_are_accepted() -> None:
    class Worker(msgspec.Struct, rename="camel"):
        host: str
        capacity: int

    class Row(msgspec.Struct, rename="camel"):
        worker: Worker
        curr_capacity_used: int

    assert free_slots([Row(Worker("h", 5), 2)]) == 3


def test_a_row_of_the_wrong_shape_is_a_spec_error_naming_its_index() -> None:
    with pytest.raises(SpecError) as caught:
        free_slots([worker(1, 0), {"worker": "nope"}])
    assert (caught.value.path, caught.value.rule) == ("$[1]", "workers")


def test_a_sequential_job_takes_one_slot_and_a_parallel_one_takes_its_own_plus_sub_tasks() -> None:
    assert [slots_needed(m) for m in (1, 2, 3, 8)] == [1, 3, 4, 9]


def test_allowances_share_spare_slots_round_robin_up_to_the_wanted_maximum() -> None:
    assert allocate_sub_tasks(20, 3, want=4) == [4, 4, 4]  # 5 + 5 + 5 = 15 of 20
    assert allocate_sub_tasks(12, 3, want=4) == [3, 3, 3]  # 4 + 4 + 4 = 12 of 12
    assert allocate_sub_tasks(11, 3, want=4) == [3, 3, 2]  # 4 + 4 + 3 = 11 of 11
    assert allocate_sub_tasks(4, 3, want=4) == [1, 1, 1]  # a parallel job would need 2 more
    assert allocate_sub_tasks(3, 3, want=4) == [1, 1, 1]
    assert allocate_sub_tasks(0, 0, want=4) == []


def test_range_partitioning_jobs_start_at_two_sub_tasks() -> None:
    assert allocate_sub_tasks(9, 3, want=4, minimum=2) == [2, 2, 2]


def test_too_few_slots_for_every_job_is_refused_saying_how_many_fit() -> None:
    with pytest.raises(CapacityError) as caught:
        allocate_sub_tasks(5, 8, want=4)
    assert caught.value.fits == 5
    assert caught.value.retryable is True
    assert "5 free slot(s) cannot start 8 job(s)" in caught.value.detail
    with pytest.raises(CapacityError) as ranged:
        allocate_sub_tasks(8, 3, want=4, minimum=2)
    assert ranged.value.fits == jobs_that_fit(8, minimum=2) == 2


def test_a_maximum_below_the_minimum_is_a_template_error() -> None:
    with pytest.raises(SpecError) as caught:
        allocate_sub_tasks(100, 2, want=1, minimum=2)
    assert caught.value.rule == "range-not-sequential"


def test_the_overlord_clients_worker_models_are_accepted_as_they_are() -> None:
    from overlord.models import WorkerInfo

    body = (RESPONSES / "workers_list_200.json").read_bytes()
    rows = msgspec.json.decode(body, type=list[WorkerInfo])
    assert free_slots(rows) == sum(row.free_slots for row in rows) == 1
