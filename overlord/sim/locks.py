"""Time-chunk locks of the simulated Overlord, indexed so one lock attempt is O(log n).

Druid gives a batch task with explicit intervals an exclusive time-chunk lock on them before
it is handed to the runner (REFERENCE §6); tasks of the same `groupId` share their locks. Held
intervals of different groups never overlap, so per datasource they form a list of disjoint
intervals sorted by start, and finding a conflict means looking at the few entries around a
bisection point rather than scanning every holder.

Waiting tasks are queued by their exact interval set. When a lock is released, each queue of
that datasource is checked once for overlap with the released intervals (a cost per distinct
waiting interval set, not per waiting task), and of an overlapping queue only its head tries to
lock: tasks with identical intervals cannot overtake each other, so if the head cannot lock,
none behind it can.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

Span = tuple[float, float, str]  # start, end (epoch seconds), the interval as Druid prints it


class Lockable(Protocol):
    id: str
    group_id: str
    datasource: str
    intervals: list[Span]


L = TypeVar("L", bound=Lockable)


class _Held:
    __slots__ = ("group", "owner", "span")

    def __init__(self, span: Span, owner: str, group: str) -> None:
        self.span = span
        self.owner = owner
        self.group = group


class LockTable(Generic[L]):
    def __init__(self) -> None:
        self._held: dict[str, list[_Held]] = {}  # datasource -> sorted by span start
        self._by_owner: dict[str, list[_Held]] = {}
        self._queues: dict[str, dict[tuple[str, ...], deque[L]]] = {}
        self._longest: dict[str, float] = {}  # datasource -> longest span ever held

    # --- holding -----------------------------------------------------------------------

    def conflict(self, task: L) -> str | None:
        """The id of a task of another group whose lock overlaps `task`'s, or None."""
        held = self._held.get(task.datasource)
        if not held:
            return None
        longest = self._longest.get(task.datasource, 0.0)
        for start, end, _ in task.intervals:
            i = bisect_left(held, end, key=_start)
            while i > 0:
                i -= 1
                h = held[i]
                if h.span[0] + longest <= start:
                    break  # nothing that starts this early is long enough to reach `start`
                if h.span[1] > start and h.group != task.group_id:
                    return h.owner
        return None

    def acquire(self, task: L) -> None:
        held = self._held.setdefault(task.datasource, [])
        mine = self._by_owner.setdefault(task.id, [])
        for span in task.intervals:
            entry = _Held(span, task.id, task.group_id)
            insort(held, entry, key=_start)
            mine.append(entry)
            length = span[1] - span[0]
            if length > self._longest.get(task.datasource, 0.0):
                self._longest[task.datasource] = length

    def release(self, task: L) -> list[Span]:
        """Drop `task`'s locks; returns the spans it held."""
        mine = self._by_owner.pop(task.id, [])
        held = self._held.get(task.datasource, [])
        for entry in mine:
            i = bisect_left(held, entry.span[0], key=_start)
            while i < len(held) and held[i] is not entry:
                i += 1
            if i < len(held):
                del held[i]
        return [e.span for e in mine]

    def holds(self, task_id: str) -> bool:
        return task_id in self._by_owner

    def held(self, datasource: str) -> Iterator[tuple[str, str, Span]]:
        """(owner, group, span) of every lock on a datasource, by interval start."""
        for h in self._held.get(datasource, ()):
            yield h.owner, h.group, h.span

    # --- waiting -----------------------------------------------------------------------

    def enqueue(self, task: L) -> None:
        key = tuple(s[2] for s in task.intervals)
        self._queues.setdefault(task.datasource, {}).setdefault(key, deque()).append(task)

    def candidates(self, datasource: str, released: list[Span]) -> list[deque[L]]:
        """The waiting queues of a datasource that a release of `released` may unblock."""
        queues = self._queues.get(datasource)
        if not queues:
            return []
        out = []
        for queue in list(queues.values()):
            if not queue:
                continue
            spans = queue[0].intervals
            if any(a[0] < b[1] and b[0] < a[1] for a in spans for b in released):
                out.append(queue)
        return out

    def prune(self, datasource: str) -> None:
        queues = self._queues.get(datasource)
        if queues is not None:
            for key in [k for k, q in queues.items() if not q]:
                del queues[key]

    def clear(self) -> None:
        self._held.clear()
        self._by_owner.clear()
        self._queues.clear()
        self._longest.clear()


def _start(h: _Held) -> float:
    return h.span[0]
