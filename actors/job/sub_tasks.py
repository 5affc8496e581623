"""A task's sub-task parallelism (`maxNumConcurrentSubTasks`, m): its bounds as the spec
gives them, the value an attempt's body carries, and the words that say why it was chosen.

An `index_parallel` task keeps m in `spec.tuningConfig`; a `compact` task in its top-level
`tuningConfig`, with which it runs its rewrite as a parallel task. Anything else has no m.
"""

from __future__ import annotations

from typing import Any

import msgspec

from eventlog.events import SubTasksRecord

__all__ = ["SubTaskBounds", "set_sub_tasks", "sub_task_bounds", "sub_tasks_story"]

# Partitionings with no sequential mode: their tasks need at least two sub-tasks.
_NOT_SEQUENTIAL = frozenset({"single_dim", "range"})


class SubTaskBounds(msgspec.Struct, frozen=True):
    """What a job's spec allows: m is chosen within [floor, ceiling]; `ceiling` is the
    compiled value (the template's `max_sub_tasks`, or lower when compiled for less), and
    `splits` the most input splits the task can have, when its input lists them (Druid
    starts no more sub-tasks than splits, so a larger m would claim slots it never uses)."""

    ceiling: int
    floor: int = 1
    splits: int | None = None

    @property
    def most(self) -> int:
        """The largest m worth choosing."""
        if self.splits is None:
            return self.ceiling
        return max(self.floor, min(self.ceiling, self.splits))


class _Partitions(msgspec.Struct):
    type: str = ""


class _Tuning(msgspec.Struct):
    type: str = ""
    maxNumConcurrentSubTasks: int = 1  # Druid's name
    partitionsSpec: _Partitions | None = None


class _Source(msgspec.Struct):
    type: str = ""
    # Listed inputs: one split at most per file, URI or object (a split hint may combine
    # them into fewer, never more). A directory or a prefix says nothing of the count.
    files: list[Any] | None = None
    uris: list[Any] | None = None
    objects: list[Any] | None = None
    baseDir: str | None = None
    prefixes: list[Any] | None = None


class _IO(msgspec.Struct):
    inputSource: _Source | None = None


class _Ingestion(msgspec.Struct):
    tuningConfig: _Tuning = msgspec.field(default_factory=_Tuning)
    ioConfig: _IO | None = None


class _Task(msgspec.Struct):
    type: str = ""
    spec: _Ingestion = msgspec.field(default_factory=_Ingestion)
    tuningConfig: _Tuning | None = None  # a compact task's


_decode_task = msgspec.json.Decoder(_Task).decode


def sub_task_bounds(spec: msgspec.Raw) -> SubTaskBounds | None:
    """The bounds of a task that runs sub-tasks, or None for one that does not (or a spec
    that cannot be read so)."""
    try:
        task = _decode_task(bytes(spec))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if task.type == "compact":
        tuning = task.tuningConfig or _Tuning()
    elif task.type == "index_parallel":
        tuning = task.spec.tuningConfig
    else:
        return None
    if tuning.type not in ("", "index_parallel"):
        return None
    partitions = tuning.partitionsSpec.type if tuning.partitionsSpec is not None else ""
    floor = 2 if partitions in _NOT_SEQUENTIAL else 1
    source = task.spec.ioConfig.inputSource if task.spec.ioConfig is not None else None
    return SubTaskBounds(
        ceiling=max(1, tuning.maxNumConcurrentSubTasks), floor=floor, splits=_splits(source)
    )


def _splits(source: _Source | None) -> int | None:
    if source is None:
        return None
    if source.type == "inline":
        return 1
    if source.baseDir is not None or source.prefixes:
        return None
    listed = [len(items) for items in (source.files, source.uris, source.objects) if items]
    return sum(listed) if listed else None


def set_sub_tasks(task: dict[str, Any], m: int) -> None:
    """Make `task` (a decoded task JSON) run at most `m` sub-tasks at once."""
    if task.get("type") == "compact":
        tuning = task.get("tuningConfig")
        if not isinstance(tuning, dict):
            tuning = task["tuningConfig"] = {"type": "index_parallel"}
    else:
        spec = task.get("spec")
        tuning = spec.get("tuningConfig") if isinstance(spec, dict) else None
        if not isinstance(tuning, dict):
            return  # not a parallel task: there is no m to set
    tuning["maxNumConcurrentSubTasks"] = m


def sub_tasks_story(record: SubTasksRecord) -> str:
    """`m=3: 7 of 16 slots free, 2 jobs waiting`: an attempt's m and what it was chosen from."""
    jobs = "job" if record.waiting == 1 else "jobs"
    free = f"{record.free} of {record.capacity} slots free"
    return f"m={record.m}: {free}, {record.waiting} {jobs} waiting"
