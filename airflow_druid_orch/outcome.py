"""What the jobs of one Airflow task came to, decided from their views alone (no Airflow
here: the operator turns an `Outcome` into a return value or the right exception)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_druid_orch.client import TERMINAL

Verdict = Literal["succeeded", "failed", "cancelled", "waiting"]


@dataclass(frozen=True)
class JobFailure:
    """One dead job, as a person needs it in the Airflow log."""

    job_id: str
    interval: str
    classification: str | None
    rule: str | None
    reason: str | None
    task_id: str | None

    @classmethod
    def of(cls, view: Mapping[str, Any]) -> JobFailure:
        return cls(
            job_id=str(view["job_id"]),
            interval=str(view.get("interval", "")),
            classification=view.get("classification"),
            rule=view.get("rule"),
            reason=view.get("reason") or view.get("last_error"),
            task_id=view.get("task_id"),
        )

    def line(self) -> str:
        kind = self.classification or "unclassified"
        rule = f" (rule {self.rule!r})" if self.rule else ""
        task = f", Druid task {self.task_id}" if self.task_id else ""
        return f"{self.job_id} [{self.interval}]: {kind} failure{rule}{task}: {self.reason}"


@dataclass(frozen=True)
class Outcome:
    """The verdict over every job, failures first: one dead job fails the Airflow task."""

    verdict: Verdict
    failures: tuple[JobFailure, ...] = ()
    cancelled: tuple[str, ...] = ()
    jobs: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)

    @property
    def structural(self) -> bool:
        """Every failure is structural: an Airflow retry would only fail the same way."""
        return bool(self.failures) and all(f.classification == "structural" for f in self.failures)

    def message(self) -> str:
        if self.verdict == "failed":
            lines = "\n  ".join(f.line() for f in self.failures)
            return f"{len(self.failures)} of {len(self.jobs)} Druid jobs failed:\n  {lines}"
        if self.verdict == "cancelled":
            return f"{len(self.cancelled)} of {len(self.jobs)} jobs were cancelled: " + ", ".join(
                self.cancelled
            )
        done = sum(1 for j in self.jobs if j.get("phase") == "succeeded")
        return f"{done} of {len(self.jobs)} jobs succeeded"

    def summary(self) -> list[dict[str, Any]]:
        """What the operator returns (its XCom): enough to find each job and Druid task."""
        keys = ("job_id", "interval", "phase", "task_id", "attempt")
        return [{k: j.get(k) for k in keys} for j in self.jobs]


def decide(views: Iterable[Mapping[str, Any]]) -> Outcome:
    """The verdict once every job is terminal ("waiting" while one is not)."""
    jobs = tuple(views)
    if any(j.get("phase") not in TERMINAL for j in jobs):
        return Outcome("waiting", jobs=jobs)
    failures = tuple(JobFailure.of(j) for j in jobs if j.get("phase") == "dead")
    if failures:
        return Outcome("failed", failures=failures, jobs=jobs)
    cancelled = tuple(str(j["job_id"]) for j in jobs if j.get("phase") == "cancelled")
    if cancelled:
        return Outcome("cancelled", cancelled=cancelled, jobs=jobs)
    return Outcome("succeeded", jobs=jobs)
