"""Backfill a month of Wikipedia edits per DAG run through a druid-orchestrator daemon.

Each run submits the pipeline template for its data interval (one month): the daemon
compiles it into one job per day, runs them within Druid's free slots, retries transient
failures itself and reports a structural one with the rule that matched. The Airflow task
waits in the triggerer meanwhile, holding no worker slot. `catchup=True` walks the months
from `start_date` on; a retry or a clear of a run finds the jobs it already submitted.

The daemon is named by the connection `druid_orch_default`, e.g.
    AIRFLOW_CONN_DRUID_ORCH_DEFAULT='druid-orch://:API_TOKEN@orch.internal:8642'
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow import DAG

from airflow_druid_orch.operators import DruidOrchOperator

with DAG(
    dag_id="wikipedia_monthly",
    schedule="@monthly",
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=True,
    max_active_runs=2,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["druid"],
):
    DruidOrchOperator(
        task_id="ingest_wikipedia",
        pipeline_template="wikipedia.toml",  # next to this file; Jinja-rendered like a .json
        # intervals default to ["{{ data_interval_start | ts }}/{{ data_interval_end | ts }}"]
    )
