"""The trigger a deferred `DruidOrchOperator` waits on: it follows the daemon's change feed
(`GET /v1/changes`, a long poll) in the triggerer's event loop until every job is terminal,
so no worker slot is held while Druid works. A daemon that restarts or is unreachable is
waited for, not reported as a failure: the jobs are in its event log and go on without us.

A deferred task has no worker process, so `on_kill` cannot run when it is killed: Airflow
cancels its trigger instead. The trigger is also cancelled when the triggerer stops or hands
it to another triggerer, where the jobs must go on. The task instance's state tells the two
apart: still deferred, the trigger only moves; anything else (marked failed or success,
cleared, timed out) is the end of the Airflow task, and its jobs are cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_druid_orch.client import AsyncDaemonClient, DaemonError
from airflow_druid_orch.hooks import DEFAULT_CONN_ID, DruidOrchHook
from airflow_druid_orch.outcome import decide

BACKOFF_CAP_S = 30.0


class DruidOrchJobsTrigger(BaseTrigger):
    """Fires once, with the final views of `job_ids` (or an error that waiting cannot mend).

    Only the connection's id is serialized, never its token: trigger arguments are stored in
    Airflow's database in the clear.
    """

    def __init__(
        self,
        job_ids: list[str],
        druid_orch_conn_id: str = DEFAULT_CONN_ID,
        wait_s: float = 20.0,
    ) -> None:
        super().__init__()
        self.job_ids = list(job_ids)
        self.druid_orch_conn_id = druid_orch_conn_id
        self.wait_s = wait_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_ids": self.job_ids,
                "druid_orch_conn_id": self.druid_orch_conn_id,
                "wait_s": self.wait_s,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = DruidOrchHook(self.druid_orch_conn_id)
        # The connection may come from Airflow's database: a blocking read, off the loop.
        url, token = await asyncio.to_thread(hook.endpoint)
        try:
            async with AsyncDaemonClient(url, token) as client:
                views = await self._follow(client)
        except asyncio.CancelledError:
            try:
                ended = await asyncio.to_thread(self._task_ended)
            except Exception as exc:  # no database to ask: leave the jobs running
                self.log.warning("cannot tell why the trigger was cancelled: %s", exc)
                ended = False
            if ended:
                await asyncio.to_thread(self._cancel_jobs, hook)
            raise
        if isinstance(views, str):
            yield TriggerEvent({"status": "error", "message": views})
        else:
            yield TriggerEvent({"status": "done", "jobs": views})

    def _task_ended(self) -> bool:
        """The task instance this trigger serves is no longer deferred (False when run
        outside a triggerer, which sets `task_instance`)."""
        ti = getattr(self, "task_instance", None)
        if ti is None:
            return False
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState

        with create_session() as session:
            state = (
                session.query(TaskInstance.state)
                .filter_by(
                    dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index
                )
                .scalar()
            )
        return bool(state != TaskInstanceState.DEFERRED)

    def _cancel_jobs(self, hook: DruidOrchHook) -> None:
        client = hook.get_conn()
        for job_id in self.job_ids:
            try:
                client.cancel(job_id)
                self.log.info("the task ended while deferred: cancelled job %s", job_id)
            except DaemonError as exc:
                self.log.warning("could not cancel job %s: %s", job_id, exc)

    async def _follow(self, client: AsyncDaemonClient) -> list[dict[str, Any]] | str:
        """The final views, or the reason to stop waiting."""
        position: int | None = None
        views: dict[str, dict[str, Any]] = {}
        delay = 1.0
        while True:
            try:
                if position is None:
                    # The head first, the jobs next: a change between the two is seen again
                    # from the feed rather than missed.
                    position = await client.head()
                    views = {v["job_id"]: v for v in await client.jobs(self.job_ids)}
                    missing = sorted(set(self.job_ids) - views.keys())
                    if missing:
                        return f"the daemon knows no job {', '.join(missing)}"
                else:
                    changed, position = await client.changes(position, self.wait_s)
                    views.update((v["job_id"], v) for v in changed if v["job_id"] in views)
                delay = 1.0
            except DaemonError as exc:
                if not exc.transient:
                    return str(exc)
                self.log.warning("daemon unavailable, waiting %.0f s: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_CAP_S)
                position = None  # read every job again: the daemon may have restarted
                continue
            if decide(views[j] for j in self.job_ids).verdict != "waiting":
                return [views[j] for j in self.job_ids]
