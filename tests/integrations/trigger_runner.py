"""Run two `DruidOrchJobsTrigger`s as the triggerer does (each with its `task_instance`, both
deferred in Airflow's database), then end one task instance (marked failed) and cancel both
triggers: what Airflow does when a deferred task is killed, and when a triggerer stops.
Runs inside the Airflow venv; prints `RESULT {json}`.

    python trigger_runner.py DAG_FILE DAG_ID KILLED_JOB_ID MOVED_JOB_ID
"""

import asyncio
import json
import sys
from datetime import UTC, datetime

from airflow.models.dagbag import DagBag

# See airflow_runner.py: the FAB user table must be mapped in a script.
from airflow.providers.fab.auth_manager.models import User  # noqa: F401
from airflow.utils.state import DagRunState, TaskInstanceState
from airflow.utils.types import DagRunType

from airflow_druid_orch.triggers import DruidOrchJobsTrigger


async def first(trigger):
    async for event in trigger.run():
        return event.payload
    return None


async def exercise(killed_ti, moved_ti, killed_job, moved_job):
    triggers = []
    for ti, job in ((killed_ti, killed_job), (moved_ti, moved_job)):
        trigger = DruidOrchJobsTrigger([job], wait_s=1)
        trigger.task_instance = ti  # as the triggerer sets it
        triggers.append(asyncio.create_task(first(trigger)))
    await asyncio.sleep(3)
    waiting = [not t.done() for t in triggers]
    killed_ti.set_state(TaskInstanceState.FAILED)  # "mark failed" in the UI
    for task in triggers:
        task.cancel()
    outcomes = await asyncio.gather(*triggers, return_exceptions=True)
    return {
        "waiting": waiting,
        "cancelled": [isinstance(o, asyncio.CancelledError) for o in outcomes],
    }


def main():
    dag_file, dag_id, killed_job, moved_job = sys.argv[1:5]
    dag = DagBag(dag_folder=dag_file, include_examples=False).get_dag(dag_id)
    dag.sync_to_db()
    date = datetime(2024, 3, 2, tzinfo=UTC)
    run = dag.create_dagrun(
        run_id="trigger_test",
        run_type=DagRunType.MANUAL,
        state=DagRunState.RUNNING,
        execution_date=date,
        data_interval=(date, date),
    )
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    for ti in tis.values():
        ti.set_state(TaskInstanceState.DEFERRED)
    result = asyncio.run(exercise(tis["killed"], tis["moved"], killed_job, moved_job))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
