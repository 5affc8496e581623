"""`DruidOrchOperator`: `DruidOperator`'s arguments, run through a druid-orchestrator daemon.

It submits a task spec (`json_index_file`, templated exactly as `DruidOperator` does) or a
pipeline template (`pipeline_template`, one job per chunk of `intervals`, by default the run's
data interval) to the daemon, then defers to `DruidOrchJobsTrigger` and holds no worker slot
while Druid works. The daemon derives each job's id from its spec, so an Airflow retry or a
clear submits the same jobs again and finds them: a running job is followed, a succeeded one
is done, and a dead or cancelled one is run again through the daemon's `retry`. Druid sees
no duplicate submission.

The outcome: success returns a summary of the jobs (their XCom); a dead job raises
`DruidOrchJobFailed` naming its classification and rule, `DruidOrchStructuralFailure` (no
Airflow retry: it would fail the same way) when every failure is structural; a cancelled job
raises, or skips with `skip_on_cancel=True`. Killing the Airflow task cancels its jobs.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from airflow.models import BaseOperator
from airflow.utils.context import Context

from airflow_druid_orch.client import DaemonError, submit_body
from airflow_druid_orch.hooks import DEFAULT_CONN_ID, DruidOrchHook
from airflow_druid_orch.outcome import Outcome, decide
from airflow_druid_orch.triggers import DruidOrchJobsTrigger

DATA_INTERVAL = "{{ data_interval_start | ts }}/{{ data_interval_end | ts }}"
RERUN = frozenset({"dead", "cancelled"})


class DruidOrchJobFailed(AirflowException):
    """A job died; `failures` holds each with its classification and rule."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message())
        self.failures = outcome.failures


class DruidOrchStructuralFailure(AirflowFailException):
    """Every failure is structural (a bad spec, a missing input): retrying cannot help."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message())
        self.failures = outcome.failures


class DruidOrchOperator(BaseOperator):
    """Run Druid ingestion through a druid-orchestrator daemon.

    Args:
        json_index_file: a task spec, as JSON text or a `.json` file (Jinja-rendered).
        pipeline_template: a pipeline template, as TOML text or a `.toml` file.
        intervals: the intervals a template runs for (default: the run's data interval).
        druid_orch_conn_id: the connection naming the daemon (see `DruidOrchHook`).
        max_attempts: Druid attempts per job before it is dead (default: the spec's).
        skip_on_cancel: a cancelled job skips the Airflow task instead of failing it.
        deferrable: wait in the triggerer (True) or in this worker slot.
        wait_s: how long each long poll of the change feed is held open.
        max_ingestion_time: after this many seconds, cancel the jobs and fail (as
            `DruidOperator` shuts its task down).

    `DruidOperator`'s other arguments are accepted so that swapping the import is the whole
    change: `druid_ingest_conn_id`, `verify_ssl` and `sql_query_context` (the daemon holds
    the Overlord's address and credentials) and `timeout` (its poll interval: the change
    feed replaces polling) are ignored; `ingestion_type` must be batch.
    """

    template_fields: Sequence[str] = ("json_index_file", "pipeline_template", "intervals")
    template_ext: Sequence[str] = (".json", ".toml")
    template_fields_renderers = {"json_index_file": "json"}
    ui_color = "#29b6f6"

    def __init__(
        self,
        *,
        json_index_file: str | None = None,
        pipeline_template: str | None = None,
        intervals: Sequence[str] = (DATA_INTERVAL,),
        druid_orch_conn_id: str = DEFAULT_CONN_ID,
        max_attempts: int | None = None,
        skip_on_cancel: bool = False,
        deferrable: bool = True,
        wait_s: float = 20.0,
        max_ingestion_time: int | None = None,
        druid_ingest_conn_id: str | None = None,
        timeout: int | None = None,
        ingestion_type: Any = None,
        sql_query_context: dict[str, Any] | None = None,
        verify_ssl: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (json_index_file is None) == (pipeline_template is None):
            raise ValueError(f"{self.task_id}: give one of json_index_file and pipeline_template")
        kind = str(getattr(ingestion_type, "name", ingestion_type or "BATCH")).upper()
        if kind != "BATCH":
            raise ValueError(f"{self.task_id}: ingestion_type {kind}: only batch ingestion runs")
        self.json_index_file = json_index_file
        self.pipeline_template = pipeline_template
        self.template_name = pipeline_template if _is_file(pipeline_template, ".toml") else None
        self.intervals = list(intervals)
        self.druid_orch_conn_id = druid_orch_conn_id
        self.max_attempts = max_attempts
        self.skip_on_cancel = skip_on_cancel
        self.deferrable = deferrable
        self.wait_s = wait_s
        self.max_ingestion_time = max_ingestion_time
        self.job_ids: list[str] = []

    def _body(self) -> dict[str, Any]:
        if self.json_index_file is not None:
            try:
                spec = json.loads(self.json_index_file)
            except ValueError as exc:
                raise AirflowFailException(f"{self.task_id}: json_index_file: {exc}") from exc
            return submit_body(spec=spec, max_attempts=self.max_attempts)
        assert self.pipeline_template is not None
        try:
            template = tomllib.loads(self.pipeline_template)
        except tomllib.TOMLDecodeError as exc:
            raise AirflowFailException(f"{self.task_id}: pipeline_template: {exc}") from exc
        return submit_body(
            template=template,
            intervals=self.intervals,
            name=self.template_name,
            max_attempts=self.max_attempts,
        )

    def execute(self, context: Context) -> Any:
        client = DruidOrchHook(self.druid_orch_conn_id).get_conn()
        try:
            views = client.submit(self._body())
        except DaemonError as exc:
            # 400 is the spec or template: a retry would be refused the same way.
            failure = AirflowFailException if exc.status in (400, 413) else AirflowException
            raise failure(f"{self.task_id}: {exc}") from exc
        self.job_ids = [v["job_id"] for v in views]
        try_number = context["ti"].try_number
        for n, view in enumerate(views):
            if view["phase"] in RERUN:
                reason = f"airflow {self.dag_id}.{self.task_id} try {try_number}"
                self.log.info("job %s is %s: running it again", view["job_id"], view["phase"])
                views[n] = client.retry(view["job_id"], reason)
        self.log.info("%d jobs: %s", len(views), ", ".join(self.job_ids))
        outcome = decide(views)
        if outcome.verdict != "waiting":
            return self._finish(outcome)
        trigger = DruidOrchJobsTrigger(self.job_ids, self.druid_orch_conn_id, self.wait_s)
        if self.deferrable:
            self.defer(trigger=trigger, method_name="execute_complete", timeout=self._limit())
        try:
            event = asyncio.run(_first_event(trigger, self._limit()))
        except TimeoutError:
            self.on_kill()
            raise AirflowException(
                f"{self.task_id}: not done after max_ingestion_time={self.max_ingestion_time}s"
                "; its jobs were cancelled"
            ) from None
        return self.execute_complete(context, event)

    def _limit(self) -> timedelta | None:
        seconds = self.max_ingestion_time
        return timedelta(seconds=seconds) if seconds is not None else None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        if event.get("status") != "done":
            raise AirflowException(f"{self.task_id}: {event.get('message', event)}")
        self.job_ids = [v["job_id"] for v in event["jobs"]]
        return self._finish(decide(event["jobs"]))

    def _finish(self, outcome: Outcome) -> Any:
        self.log.info("%s", outcome.message())
        if outcome.verdict == "failed":
            raise (
                DruidOrchStructuralFailure(outcome)
                if outcome.structural
                else (DruidOrchJobFailed(outcome))
            )
        if outcome.verdict == "cancelled":
            if self.skip_on_cancel:
                raise AirflowSkipException(outcome.message())
            raise AirflowException(outcome.message())
        return outcome.summary()

    def on_kill(self) -> None:
        """The Airflow task was killed: cancel its jobs, so no Druid task runs on unowned."""
        if not self.job_ids:
            return
        client = DruidOrchHook(self.druid_orch_conn_id).get_conn()
        for job_id in self.job_ids:
            try:
                view = client.cancel(job_id)
                self.log.info("cancelled job %s (%s)", job_id, view.get("phase"))
            except DaemonError as exc:
                self.log.warning("could not cancel job %s: %s", job_id, exc)


def _is_file(value: str | None, suffix: str) -> bool:
    return value is not None and value.strip().endswith(suffix) and "\n" not in value


async def _first_event(trigger: DruidOrchJobsTrigger, timeout: timedelta | None) -> Any:
    async with asyncio.timeout(timeout.total_seconds() if timeout else None):
        async for event in trigger.run():
            return event.payload
    raise AirflowException("the trigger ended without an event")
