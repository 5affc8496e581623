"""Properties of capacity allocation, the streaming watermark, interval math and passthrough."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from specs.capacity import allocate_sub_tasks, free_slots
from specs.errors import CapacityError, WatermarkError
from specs.intervals import Interval, floor, format_instant, is_aligned, split, subtract
from specs.model import encode_spec, validate_spec
from specs.watermark import clip_to_watermark, streaming_watermark

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
instants = st.integers(0, 400 * 24 * 60).map(lambda m: EPOCH + timedelta(minutes=m))


@st.composite
def intervals(draw: st.DrawFn) -> Interval:
    start = draw(instants)
    return Interval(start, start + timedelta(minutes=draw(st.integers(1, 90 * 24 * 60))))


@given(
    free=st.integers(0, 500),
    jobs=st.integers(0, 60),
    want=st.integers(2, 32),
    minimum=st.sampled_from([1, 2]),
)
def test_allocation_never_exceeds_free_slots_and_gives_every_job_its_minimum(
    free: int, jobs: int, want: int, minimum: int
) -> None:
    floor_cost = 1 if minimum == 1 else 1 + minimum
    if jobs * floor_cost > free:
        # Refused exactly when the minimum for every job does not fit; `fits` jobs would.
        with pytest.raises(CapacityError) as caught:
            allocate_sub_tasks(free, jobs, want=want, minimum=minimum)
        fits = caught.value.fits
        assert fits < jobs
        assert fits * floor_cost <= free < (fits + 1) * floor_cost
        return
    allowance = allocate_sub_tasks(free, jobs, want=want, minimum=minimum)
    assert len(allowance) == jobs
    assert all(minimum <= a <= want for a in allowance)

    # The slots a job occupies, written out here rather than trusted from the module:
    # sequential mode runs in the supervisor task's own slot, parallel mode adds sub-tasks.
    def cost(sub_tasks: int) -> int:
        return 1 if sub_tasks == 1 else 1 + sub_tasks

    used = sum(cost(a) for a in allowance)
    assert used <= free
    # Nothing is left that would let any job grow: the spare slots are not wasted.
    for a in allowance:
        assert a == want or cost(a + 1) - cost(a) > free - used


workers = st.lists(
    st.fixed_dictionaries(
        {
            "worker": st.fixed_dictionaries(
                {
                    "host": st.text(max_size=5),
                    "capacity": st.integers(0, 16),
                    "disabled": st.booleans(),
                    "category": st.sampled_from(["_default_worker_category", "hot"]),
                }
            ),
            "currCapacityUsed": st.integers(0, 20),
        },
        optional={"blacklistedUntil": st.just("2030-01-01T00:00:00.000Z")},
    ),
    max_size=12,
)


@given(workers)
def test_free_slots_count_only_usable_workers_and_never_go_negative(rows: list[Any]) -> None:
    total = free_slots(rows)
    usable = [r for r in rows if not r["worker"]["disabled"] and "blacklistedUntil" not in r]
    assert total == sum(max(0, r["worker"]["capacity"] - r["currCapacityUsed"]) for r in usable)
    assert (
        free_slots(rows, category="hot") + free_slots(rows, category="_default_worker_category")
        == total
    )


@given(intervals(), instants, st.sampled_from(["MINUTE", "HOUR", "DAY", "WEEK", "MONTH"]))
def test_a_clipped_range_never_passes_the_watermark(
    interval: Interval, watermark: datetime, granularity: str
) -> None:
    aligned = Interval(floor(interval.start, granularity), interval.end + timedelta(days=40))
    aligned = Interval(aligned.start, floor(aligned.end, granularity))
    try:
        clipped = clip_to_watermark(aligned, watermark, granularity)
    except WatermarkError:
        assert floor(watermark, granularity) <= aligned.start
        return
    assert clipped.start == aligned.start
    assert clipped.end <= watermark
    assert clipped.end <= aligned.end
    assert clipped == aligned or is_aligned(clipped, granularity)


@given(
    st.lists(st.integers(0, 10_000), min_size=1, max_size=6),
    st.integers(1, 48),
    st.integers(0, 10_000),
)
def test_the_watermark_is_never_after_any_tasks_bound_nor_after_now_minus_the_period(
    bounds: list[int], period_hours: int, now_minutes: int
) -> None:
    now = EPOCH + timedelta(minutes=now_minutes)
    tasks = [{"id": f"t{i}", "startTime": format_instant(now)} for i in range(len(bounds))]
    status = {"generationTime": format_instant(now), "payload": {"activeTasks": tasks}}
    payloads = [
        {
            "id": f"t{i}",
            "ioConfig": {"minimumMessageTime": format_instant(EPOCH + timedelta(minutes=b))},
        }
        for i, b in enumerate(bounds)
    ]
    spec = {"ioConfig": {"lateMessageRejectionPeriod": f"PT{period_hours}H"}}
    mark = streaming_watermark(status, supervisor_spec=spec, task_payloads=payloads)
    assert mark.at <= now - timedelta(hours=period_hours)
    assert all(mark.at <= EPOCH + timedelta(minutes=b) for b in bounds)


@given(intervals(), st.lists(intervals(), max_size=5))
@example(  # found by CI: a cut that begins where the interval ends
    Interval(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 14, 13, tzinfo=UTC)),
    [Interval(datetime(2024, 1, 1, 14, 13, tzinfo=UTC), datetime(2024, 1, 1, 14, 14, tzinfo=UTC))],
)
def test_subtracting_covered_intervals_leaves_disjoint_pieces_outside_them(
    interval: Interval, covered: list[Interval]
) -> None:
    pieces = subtract(interval, covered)
    for piece in pieces:
        assert interval.contains(piece)
        assert not any(piece.overlaps(cut) for cut in covered)
    for left, right in itertools.pairwise(pieces):
        assert left.end <= right.start

    # Every instant of the interval is either left over or covered. Instants, not short
    # probes: a one-second probe that began 5 us before a piece's end (17 steps of a
    # duration / 17 that rounds down) overlapped the piece and the cut after it.
    def holds(span: Interval, instant: datetime) -> bool:
        return span.start <= instant < span.end

    probe = interval.start
    while probe < interval.end:
        assert any(holds(p, probe) for p in pieces) != any(holds(c, probe) for c in covered)
        probe += max(interval.duration / 17, timedelta(minutes=1))


@given(intervals(), st.sampled_from(["HOUR", "DAY", "WEEK", "MONTH", "PT6H", "P1D", "P1M"]))
def test_split_chunks_are_consecutive_and_cover_the_interval(
    interval: Interval, chunk: str
) -> None:
    parts = list(split(interval, chunk))
    assert parts[0].start == interval.start
    assert parts[-1].end == interval.end
    for left, right in itertools.pairwise(parts):
        assert left.end == right.start


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    st.text(min_size=1, max_size=12).filter(
        lambda t: (
            t.lower() not in {"count", "longsum", "doublesum", "filtered", "cardinality"}
            and not t.lower().endswith(("sum", "min", "max", "first", "last", "unique"))
            and t.lower() not in {"expression", "javascript"}
        )
    ),
    st.dictionaries(st.text(max_size=8).filter(lambda k: k != "type"), json_values, max_size=4),
)
def test_any_extension_aggregator_round_trips_verbatim(kind: str, body: dict[str, Any]) -> None:
    metric = {"type": kind, "name": "metric", "fieldName": "column", **body}
    spec = {
        "type": "index_parallel",
        "spec": {
            "dataSchema": {"dataSource": "d", "metricsSpec": [metric]},
            "ioConfig": {"type": "index_parallel", "inputSource": {"type": "inline", "data": ""}},
        },
    }
    assert encode_spec(validate_spec(spec)) == spec


def test_allocation_refuses_rather_than_overcommitting_a_small_cluster() -> None:
    with pytest.raises(CapacityError):
        allocate_sub_tasks(2, 3, want=4)


def _some_of(**choices: list[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of these keys, each holding one of its choices (Druid defaults, nulls)."""
    return st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in choices.items()})


@st.composite
def specs_with_defaults_and_nulls(draw: st.DrawFn) -> dict[str, Any]:
    schema = {"dataSource": "wiki"} | draw(
        _some_of(
            timestampSpec=[{"column": "timestamp", "format": "auto", "missingValue": None}, None],
            dimensionsSpec=[
                {"dimensions": [], "dimensionExclusions": [], "spatialDimensions": [],
                 "includeAllDimensions": False, "useSchemaDiscovery": False},
                {"dimensions": None, "useSchemaDiscovery": True},
            ],
            metricsSpec=[[], None],
            granularitySpec=[
                {"type": "uniform", "segmentGranularity": "DAY",
                 "queryGranularity": {"type": "none"}, "rollup": True, "intervals": []},
                {"segmentGranularity": None, "queryGranularity": None, "intervals": None},
            ],
            transformSpec=[{"filter": None, "transforms": []}, None],
            projections=[None, []],
            parser=[None],
        )
    )  # fmt: skip
    io = {"type": "index_parallel", "inputSource": {"type": "inline", "data": ""}} | draw(
        _some_of(
            appendToExisting=[False, None],
            dropExisting=[False, None],
            inputFormat=[{"type": "json", "flattenSpec": None, "keepNullColumns": False}, None],
        )
    )
    tuning = draw(
        _some_of(
            type=["index_parallel", None],
            maxNumConcurrentSubTasks=[1, None],
            maxRetry=[3, None],
            partitionsSpec=[{"type": "dynamic", "maxRowsPerSegment": 5000000,
                             "maxTotalRows": None}, None],
            forceGuaranteedRollup=[False, None],
            splitHintSpec=[None, {"type": "maxSize", "maxSplitSize": "1GiB"}],
            maxRowsInMemory=[1000000, None],
            maxParseExceptions=[2147483647, None],
        )
    )  # fmt: skip
    inner: dict[str, Any] = {"dataSchema": schema, "ioConfig": io}
    if draw(st.booleans()):
        inner["tuningConfig"] = tuning
    top = draw(_some_of(context=[None, {}], groupId=[None], resource=[None], id=[None]))
    return {"type": "index_parallel", "spec": inner, **top}


@given(specs_with_defaults_and_nulls())
def test_a_spec_re_encodes_with_every_written_key_and_no_added_one(spec: dict[str, Any]) -> None:
    assert encode_spec(validate_spec(spec)) == spec
