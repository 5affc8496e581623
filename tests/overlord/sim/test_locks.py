"""The simulator's indexed lock table agrees with a brute-force check of every holder."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from overlord.sim.locks import LockTable, Span


@dataclass(eq=False)
class Task:
    id: str
    group_id: str
    intervals: list[Span] = field(default_factory=list)
    datasource: str = "ds"


def span(start: int, length: int) -> Span:
    return (float(start), float(start + length), f"{start}/{start + length}")


spans = st.builds(span, st.integers(0, 100), st.integers(1, 30))
tasks = st.lists(
    st.tuples(st.sampled_from("abcd"), st.lists(spans, min_size=1, max_size=3)), max_size=25
)


def overlaps(a: list[Span], b: list[Span]) -> bool:
    return any(x[0] < y[1] and y[0] < x[1] for x in a for y in b)


@given(tasks, st.sampled_from("abcde"), st.lists(spans, min_size=1, max_size=3))
def test_conflict_is_found_exactly_when_some_other_group_overlaps(
    held: list[tuple[str, list[Span]]], group: str, wanted: list[Span]
) -> None:
    table: LockTable[Task] = LockTable()
    holders = []
    for n, (g, intervals) in enumerate(held):
        task = Task(f"h{n}", g, intervals)
        if table.conflict(task) is None:  # only what could really be held is held
            table.acquire(task)
            holders.append(task)
    probe = Task("probe", group, wanted)
    blocker = table.conflict(probe)
    expected = [h for h in holders if h.group_id != group and overlaps(h.intervals, wanted)]
    if expected:
        assert blocker in {h.id for h in expected}
    else:
        assert blocker is None


def test_release_frees_exactly_the_task_s_spans() -> None:
    table: LockTable[Task] = LockTable()
    first = Task("a", "a", [span(0, 10), span(20, 5)])
    second = Task("b", "b", [span(10, 10)])
    table.acquire(first)
    table.acquire(second)
    assert table.release(first) == first.intervals
    assert [owner for owner, _, _ in table.held("ds")] == ["b"]
    assert table.conflict(Task("c", "c", [span(0, 10)])) is None
    assert table.conflict(Task("c", "c", [span(15, 1)])) == "b"


def test_waiters_are_offered_only_when_a_release_overlaps_their_intervals() -> None:
    table: LockTable[Task] = LockTable()
    near = Task("near", "n", [span(0, 10)])
    far = Task("far", "f", [span(50, 10)])
    table.enqueue(near)
    table.enqueue(far)
    queues = table.candidates("ds", [span(5, 1)])
    assert [list(q) for q in queues] == [[near]]
