"""Interval math: ISO-8601 intervals and periods, alignment, splitting, subtraction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from specs.errors import IntervalError
from specs.intervals import Interval, Period, align, floor, parse_instant, split, subtract


def iv(text: str) -> Interval:
    return Interval.parse(text)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2024-01-01/2024-01-02", "2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z"),
        ("2024-01-01T06:00:00+02:00/PT2H", "2024-01-01T04:00:00.000Z/2024-01-01T06:00:00.000Z"),
        ("P1M/2024-03-01", "2024-02-01T00:00:00.000Z/2024-03-01T00:00:00.000Z"),
        ("2024-01-31/P1M", "2024-01-31T00:00:00.000Z/2024-02-29T00:00:00.000Z"),
    ],
)
def test_intervals_parse_start_end_and_period_forms_into_druids_canonical_text(
    text: str, canonical: str
) -> None:
    assert str(iv(text)) == canonical


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("2024-01-01", "interval-explicit"),
        ("2024-01-01/", "interval-explicit"),
        ("/2024-01-01", "interval-explicit"),
        ("2024-01-02/2024-01-01", "interval-order"),
        ("2024-01-01/2024-01-01", "interval-order"),
        ("yesterday/today", "iso8601"),
        ("2024-01-01/P", "iso8601-period"),
    ],
)
def test_open_empty_reversed_or_malformed_intervals_are_refused(text: str, rule: str) -> None:
    with pytest.raises(IntervalError) as caught:
        iv(text)
    assert caught.value.rule == rule


def test_an_instant_without_a_zone_is_utc() -> None:
    assert parse_instant("2024-01-01T05:00") == datetime(2024, 1, 1, 5, tzinfo=UTC)


def test_floor_follows_calendar_buckets_for_weeks_months_and_quarters() -> None:
    moment = datetime(2024, 5, 17, 13, 45, tzinfo=UTC)  # a Friday
    assert floor(moment, "WEEK") == datetime(2024, 5, 13, tzinfo=UTC)
    assert floor(moment, "MONTH") == datetime(2024, 5, 1, tzinfo=UTC)
    assert floor(moment, "QUARTER") == datetime(2024, 4, 1, tzinfo=UTC)
    assert floor(moment, "FIFTEEN_MINUTE") == datetime(2024, 5, 17, 13, 45, tzinfo=UTC)
    assert floor(moment, "six_hour") == datetime(2024, 5, 17, 12, tzinfo=UTC)


def test_align_covers_an_interval_with_whole_buckets() -> None:
    assert align(iv("2024-01-01T05:00Z/2024-01-02T01:00Z"), "DAY") == iv("2024-01-01/2024-01-03")


def test_split_by_granularity_cuts_at_bucket_boundaries_and_at_the_end() -> None:
    parts = list(split(iv("2024-01-30/2024-03-10"), "MONTH"))
    assert [str(p).split("/")[1][:10] for p in parts] == ["2024-02-01", "2024-03-01", "2024-03-10"]


def test_split_by_period_counts_from_the_start_of_the_range() -> None:
    parts = list(split(iv("2024-01-01T03:00Z/2024-01-02"), "PT6H"))
    assert [p.start.hour for p in parts] == [3, 9, 15, 21]
    assert parts[-1].end == datetime(2024, 1, 2, tzinfo=UTC)


def test_subtract_leaves_the_uncovered_parts_in_order() -> None:
    left = subtract(
        iv("2024-01-01/2024-01-10"), [iv("2024-01-03/2024-01-04"), iv("2023-12-01/2024-01-02")]
    )
    assert left == [iv("2024-01-02/2024-01-03"), iv("2024-01-04/2024-01-10")]
    assert subtract(iv("2024-01-01/2024-01-02"), [iv("2023-01-01/2025-01-01")]) == []


def test_a_period_can_be_taken_back_off_a_time() -> None:
    period = Period.parse("P1M")
    assert period.subtract_from(datetime(2024, 3, 31, tzinfo=UTC)) == datetime(
        2024, 2, 29, tzinfo=UTC
    )
    assert Period.parse("PT90M").subtract_from(datetime(2024, 1, 1, tzinfo=UTC)) == datetime(
        2023, 12, 31, 22, 30, tzinfo=UTC
    )


def test_overlaps_and_contains_treat_intervals_as_half_open() -> None:
    a, b = iv("2024-01-01/2024-01-02"), iv("2024-01-02/2024-01-03")
    assert not a.overlaps(b)
    assert iv("2024-01-01/2024-01-03").overlaps(b)
    assert iv("2024-01-01/2024-01-03").contains(b)
