"""Helpers shared by the integration tests that run the orchestrator against the simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from actors.demo import demo_config
from actors.orchestrator import OrchestratorConfig
from specs.compiler import CompiledJob, builtin_template, compile_job
from specs.intervals import Interval


def fast_config(**overrides: Any) -> OrchestratorConfig:
    """The demo's quick poller and retry settings, with `overrides` on top."""
    base = demo_config()
    fields: dict[str, Any] = {"poller": base.poller, "job": base.job}
    fields.update(overrides)
    return OrchestratorConfig(**fields)


def daily_jobs(count: int, start: datetime) -> list[CompiledJob]:
    """`count` one-day jobs of the built-in pipeline, from `start` on."""
    template = builtin_template()
    return [
        compile_job(
            template,
            Interval(start + timedelta(days=n), start + timedelta(days=n + 1)),
            max_sub_tasks=2,
        )
        for n in range(count)
    ]


def month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)
