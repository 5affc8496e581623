"""Crash exactly between an intent and its outcome, then check that recovery is right.

A `SimulatedCrash` (a BaseException, like the process dying) is raised by a wrapper around
the Overlord client at a chosen call, before or after the call reaches the simulator. It
tears the whole orchestrator down; a new orchestrator on the same event log must then bring
every job to the right end state without a second live Druid task or a blind resubmission.
Two things guard a task whose POST landed before the crash: the boot reconciliation adopts
it, and the recovered actor asks the Overlord before it POSTs. Either one alone hides a
fault in the other, so one test here takes the reconciliation away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from actors.job.evolve import fold
from actors.orchestrator import Orchestrator
from actors.stream_names import job_stream
from eventlog.events import ReconcileDecided, ShutdownIntended, SubmitIntended, Submitted
from eventlog.sqlite.store import SQLiteEventLog
from overlord.client import HttpOverlord, RequestRetryPolicy
from overlord.errors import OverlordUnavailableError
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from service.demo import demo_config
from specs.compiler import builtin_template, compile_job
from specs.intervals import Interval


class SimulatedCrash(BaseException):
    """The process dies here (BaseException: nothing in the orchestrator catches it)."""


class CrashingOverlord:
    """Delegates to a real client, and dies once at `method` `when` ("before"/"after"), or
    raises `error` there instead (an Overlord that refuses that one call)."""

    def __init__(
        self,
        inner: HttpOverlord,
        method: str,
        when: str,
        error: Callable[[str], BaseException] = SimulatedCrash,
    ) -> None:
        self.inner = inner
        self.method = method
        self.when = when
        self.error = error
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if name != self.method:
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            if not self.fired and self.when == "before":
                self.fired = True
                raise self.error(f"injected before {name}")
            result = await target(*args, **kwargs)
            if not self.fired and self.when == "after":
                self.fired = True
                raise self.error(f"injected after {name}")
            return result

        return call

    # Keep the Overlord protocol's signatures visible to readers (and mypy).
    async def submit(self, task: Mapping[str, Any]) -> str:
        return await self.__getattr__("submit")(task)  # type: ignore[no-any-return]

    async def shutdown(self, task_id: str) -> None:
        await self.__getattr__("shutdown")(task_id)

    async def bulk_status(self, task_ids: Sequence[str]) -> Any:
        return await self.__getattr__("bulk_status")(task_ids)


@pytest.fixture
def sim() -> Simulator:
    return Simulator(
        SimConfig(cluster=ClusterConfig(seed=5, min_duration_s=0.3, max_duration_s=0.5))
    )


def job(day: int = 1) -> Any:
    start = Interval.parse(f"2024-03-{day:02d}/P1D")
    return compile_job(builtin_template(), start, max_sub_tasks=2)


async def run_until_crash(db: Path, url: str, method: str, when: str, *, cancel: bool) -> str:
    """Submit one job through a crashing client; return the job id once the crash happened."""
    compiled = job()
    client = HttpOverlord(url, retry=RequestRetryPolicy(attempts=2, base_s=0.01))
    crashing = CrashingOverlord(client, method, when)
    crashed: BaseExceptionGroup[BaseException] | None = None
    try:
        async with Orchestrator.open(db, crashing, config=demo_config()) as orch:  # type: ignore[arg-type]
            await orch.submit(compiled)
            if cancel:
                await _until_phase(orch, compiled.job_id, {"running", "pending", "waiting"})
                await orch.cancel(compiled.job_id)
            await orch.wait(compiled.job_id, timeout=10)
    except BaseExceptionGroup as group:
        crashed = group
    finally:
        await client.close()
    assert crashed is not None, "the orchestrator should have died at the kill point"
    assert crashed.subgroup(SimulatedCrash) is not None
    assert crashing.fired
    return compiled.job_id


async def _until_phase(orch: Orchestrator, job_id: str, phases: set[str]) -> None:
    for _ in range(500):
        view = await orch.get(job_id)
        if view is not None and view.phase in phases:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"job never reached {phases}")


async def recover(db: Path, url: str, job_id: str, *, refuse: str | None = None) -> str:
    """Restart on the log and wait for the job; `refuse`: an Overlord call refused once."""
    if refuse is None:
        async with Orchestrator.open(db, url, config=demo_config()) as orch:
            return (await orch.wait(job_id, timeout=15)).phase
    client = HttpOverlord(url, retry=RequestRetryPolicy(attempts=2, base_s=0.01))
    refusing = CrashingOverlord(client, refuse, "before", OverlordUnavailableError)
    try:
        async with Orchestrator.open(db, refusing, config=demo_config()) as orch:  # type: ignore[arg-type]
            view = await orch.wait(job_id, timeout=15)
    finally:
        await client.close()
    return view.phase


async def events_of(db: Path, job_id: str) -> list[Any]:
    async with SQLiteEventLog(db) as log:
        return [r.event for r in await log.read_stream(job_stream(job_id))]


async def reconcile_decisions(db: Path) -> list[str]:
    async with SQLiteEventLog(db) as log:
        return [
            r.event.decision
            for r in await log.read_stream("reconcile")
            if isinstance(r.event, ReconcileDecided)
        ]


async def test_a_crash_between_the_intent_and_the_post_resubmits_the_same_id_once(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    db = tmp_path / "log.db"
    job_id = await run_until_crash(db, url, "submit", "before", cancel=False)
    assert sim.stats()["submissions"] == 0  # it died before the POST left
    assert await recover(db, url, job_id) == "succeeded"
    events = await events_of(db, job_id)
    intents = [e for e in events if isinstance(e, SubmitIntended)]
    assert [i.attempt for i in intents] == [1]
    assert "resubmit" in await reconcile_decisions(db)
    stats = sim.stats()
    assert stats["submissions"] == 1
    assert stats["duplicate_submissions"] == 0
    assert stats["max_live_tasks_per_interval"] == 1


async def test_a_crash_between_the_post_and_recording_it_adopts_the_task_without_reposting(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    db = tmp_path / "log.db"
    job_id = await run_until_crash(db, url, "submit", "after", cancel=False)
    assert sim.stats()["submissions"] == 1
    assert await recover(db, url, job_id) == "succeeded"
    events = await events_of(db, job_id)
    submitted = [e for e in events if isinstance(e, Submitted)]
    assert len(submitted) == 1
    assert submitted[0].adopted
    assert "adopt" in await reconcile_decisions(db)
    stats = sim.stats()
    assert stats["submissions"] == 1
    assert stats["duplicate_submissions"] == 0
    assert stats["max_live_tasks_per_interval"] == 1


async def test_a_crash_after_the_post_then_a_boot_that_cannot_reconcile_asks_before_reposting(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    db = tmp_path / "log.db"
    job_id = await run_until_crash(db, url, "submit", "after", cancel=False)
    # The boot reconciliation's bulk status is refused, so it decides nothing: only the
    # recovered actor's own status call stands between the intent and a second POST.
    assert await recover(db, url, job_id, refuse="bulk_status") == "succeeded"
    assert await reconcile_decisions(db) == []
    submitted = [e for e in await events_of(db, job_id) if isinstance(e, Submitted)]
    assert len(submitted) == 1
    assert submitted[0].adopted
    stats = sim.stats()
    assert stats["submissions"] == 1
    assert stats["duplicate_submissions"] == 0, "the recovered actor POSTed without asking"
    assert stats["max_live_tasks_per_interval"] == 1


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_crash_around_a_shutdown_repeats_the_shutdown_and_ends_cancelled(
    tmp_path: Path, url: str, sim: Simulator, when: str
) -> None:
    db = tmp_path / "log.db"
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 60
    job_id = await run_until_crash(db, url, "shutdown", when, cancel=True)
    assert await recover(db, url, job_id) == "cancelled"
    events = await events_of(db, job_id)
    assert sum(isinstance(e, ShutdownIntended) for e in events) == 1
    task = next(iter(sim.cluster.tasks.values()))
    assert task.status == "FAILED"
    assert task.error_msg == "Shutdown request from user"
    assert sim.stats()["submissions"] == 1


async def test_a_crash_while_fetching_the_report_classifies_the_failure_once_after_restart(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    db = tmp_path / "log.db"
    compiled = job()
    sim.cluster.config.scripted[f"{compiled.datasource}/{compiled.interval}"] = [
        "transient:s3_throttle",
        "success",
    ]
    job_id = await run_until_crash(db, url, "reports", "before", cancel=False)
    state = fold(await events_of(db, job_id))
    assert state.phase == "failed"  # the failure is recorded, its analysis is not
    assert await recover(db, url, job_id) == "succeeded"
    final = fold(await events_of(db, job_id))
    assert final.attempt == 2
    assert sim.stats()["duplicate_submissions"] == 0
    assert sim.stats()["max_live_tasks_per_interval"] == 1
