"""Run one DAG with `dag.test()` inside the Airflow venv (a subprocess of the tests; this file
is never imported by the project's venv). Prints one line `RESULT {json}` at the end: the run's
state and, per task, its state, try number and return value.

    python airflow_runner.py DAG_FILE DAG_ID LOGICAL_DATE
"""

import json
import sys
from datetime import datetime

from airflow.models.dagbag import DagBag
from airflow.models.xcom import XCom

# The FAB user table: dag_run_note refers to it, and a script that never loads the webserver
# must map it itself or SQLAlchemy cannot resolve that foreign key.
from airflow.providers.fab.auth_manager.models import User  # noqa: F401
from airflow.utils.session import create_session


def main() -> int:
    dag_file, dag_id, logical = sys.argv[1:4]
    bag = DagBag(dag_folder=dag_file, include_examples=False)
    if bag.import_errors:
        print("RESULT " + json.dumps({"import_errors": bag.import_errors}), flush=True)
        return 3
    dag = bag.get_dag(dag_id)
    run = dag.test(execution_date=datetime.fromisoformat(logical))
    tasks = {}
    with create_session() as session:
        for ti in run.get_task_instances(session=session):
            value = XCom.get_one(
                run_id=run.run_id, dag_id=dag_id, task_id=ti.task_id, session=session
            )
            tasks[ti.task_id] = {"state": ti.state, "try_number": ti.try_number, "value": value}
    print("RESULT " + json.dumps({"state": run.state, "tasks": tasks}, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
