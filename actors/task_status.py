"""How the poller and the reconciler read what the Overlord says about tasks, in bulk.

`POST /taskStatus` in chunks answers RUNNING / SUCCESS / FAILED for many ids at once, but no
runner state; one `GET /tasks?max=0` lists the active tasks with theirs (WAITING / PENDING /
RUNNING). An id missing from the bulk answer is not yet lost: the Overlord is eventually
consistent, so the caller confirms it with `GET /task/{id}/status` (`TaskView.of`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec

from actors.ports import Overlord
from overlord.models import TaskStatusPlus


class TaskView(msgspec.Struct, frozen=True):
    """The Overlord's view of one task."""

    status: str
    runner: str | None = None
    duration_ms: int = -1
    error_msg: str | None = None
    location: str | None = None

    @classmethod
    def of(cls, st: TaskStatusPlus) -> TaskView:
        """From a row of `/tasks` or the answer of `/task/{id}/status`."""
        return cls(
            st.status_code, st.runner_status_code, st.duration, st.error_msg, st.location.describe()
        )


class BulkRead(msgspec.Struct, frozen=True):
    views: dict[str, TaskView]  # ids the Overlord did not answer for are left out
    requests: int


async def read_statuses(overlord: Overlord, task_ids: Sequence[str], chunk: int) -> BulkRead:
    """The status of `task_ids` without their runner state, `chunk` ids per request.

    The chunks go out together: with 10,000 tasks, one after the other they made the last
    chunk's tasks wait for nineteen round trips.
    """
    chunks = [task_ids[i : i + chunk] for i in range(0, len(task_ids), chunk)]
    answers = await asyncio.gather(*(overlord.bulk_status(c) for c in chunks))
    views = {
        task_id: TaskView(st.status, None, st.duration, st.error_msg, st.location.describe())
        for answer in answers
        for task_id, st in answer.items()
    }
    return BulkRead(views, len(chunks))


async def active_tasks(overlord: Overlord) -> list[TaskStatusPlus]:
    """Every active task with its runner state; finished ones are left out (`max=0`)."""
    return await overlord.tasks(max_complete=0)


def runner_states(rows: Sequence[TaskStatusPlus]) -> dict[str, str | None]:
    """The runner state of each RUNNING task of an `active_tasks` listing."""
    return {r.id: r.runner_status_code for r in rows if r.status_code == "RUNNING"}
