"""The workload both sides of the lifecycle benchmark run: jobs, failure mix, simulated cluster.

Every process of a benchmark run (the simulator, the orchestrator, the baseline) rebuilds the
workload from the same `Workload` description, so nothing but a small JSON file crosses process
boundaries and both sides face exactly the same jobs.

Outcomes are scripted per interval (`ClusterConfig.scripted`), not drawn per task id: the
simulator otherwise seeds each task's outcome with its task id, and the two sides name their
tasks differently (the orchestrator sets deterministic ids, DruidHook lets Druid generate
them). Scripting by interval gives both sides the same failures on the same jobs, whatever the
ids. Durations are still drawn per task id from the seed, so they follow the same distribution
on both sides but are not identical task for task.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import msgspec

from overlord.sim.catalog import DEFAULT_STRUCTURAL, DEFAULT_TRANSIENT
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig
from specs.compiler import CompiledJob, PipelineTemplate, builtin_template, compile_job
from specs.intervals import Interval

START = datetime(2020, 1, 1, tzinfo=UTC)
JOBS_PER_DATASOURCE = 100
SLOTS_PER_WORKER = 100

Expected = Literal["succeeded", "dead"]


class Workload(msgspec.Struct, frozen=True, kw_only=True):
    """What one benchmark run asks of the simulated cluster and of both sides."""

    jobs: int
    seed: int = 1
    min_duration_s: float = 20.0
    max_duration_s: float = 40.0
    transient_rate: float = 0.05  # share of jobs whose first attempt fails transiently
    structural_rate: float = 0.01  # share of jobs whose every attempt fails structurally
    poll_s: float = 1.0  # the baseline's poll interval and the orchestrator's ceiling_s
    retry_delay_s: float = 1.0
    # Real deployments spread a backfill over many datasources; it also keeps the simulator's
    # per-datasource lock scan (linear in lock holders) from dominating at 10,000 tasks.
    datasources: int = 0  # 0: one per JOBS_PER_DATASOURCE jobs

    @property
    def datasource_count(self) -> int:
        return self.datasources or max(1, math.ceil(self.jobs / JOBS_PER_DATASOURCE))

    def placements(self) -> list[tuple[str, Interval]]:
        """(datasource, interval) of every job, in submission order."""
        n = self.datasource_count
        out = []
        for i in range(self.jobs):
            day = START + timedelta(days=i // n)
            out.append((f"wikipedia_{i % n:03d}", Interval(day, day + timedelta(days=1))))
        return out

    def outcomes(self) -> list[tuple[Expected, list[str]]]:
        """Per job: the expected final phase and the simulator script of its attempts.

        Exactly round(rate * jobs) jobs of each failing kind, placed by the seed, so that a
        small run still takes every path and every repeat faces the same mix. Structural
        failures are spread evenly over the datasources: the orchestrator pauses a datasource
        after 3 structural failures within an hour (its per-datasource breaker), which is
        right in production but would hold the transient retries of that datasource for the
        rest of a benchmark run that means to measure steady-state lifecycles.
        """
        rng = random.Random(f"bench-outcomes:{self.seed}")
        order = list(range(self.jobs))
        rng.shuffle(order)
        n_ds = self.datasource_count
        want_structural = round(self.structural_rate * self.jobs)
        per_datasource = max(1, math.ceil(want_structural / n_ds))
        taken: dict[int, int] = {}
        structural: set[int] = set()
        for i in order:
            if len(structural) == want_structural:
                break
            if taken.get(i % n_ds, 0) < per_datasource:
                taken[i % n_ds] = taken.get(i % n_ds, 0) + 1
                structural.add(i)
        rest = [i for i in order if i not in structural]
        transient = set(rest[: round(self.transient_rate * self.jobs)])
        out: list[tuple[Expected, list[str]]] = []
        for i in range(self.jobs):
            if i in structural:
                out.append(("dead", [f"structural:{rng.choice(DEFAULT_STRUCTURAL)}"]))
            elif i in transient:
                out.append(("succeeded", [f"transient:{rng.choice(DEFAULT_TRANSIENT)}", "success"]))
            else:
                out.append(("succeeded", []))
        return out

    def compiled(self) -> list[CompiledJob]:
        template = builtin_template("wikipedia")
        templates: dict[str, PipelineTemplate] = {}
        jobs = []
        for datasource, interval in self.placements():
            t = templates.get(datasource)
            if t is None:
                t = templates[datasource] = msgspec.structs.replace(template, datasource=datasource)
            jobs.append(compile_job(t, interval, max_sub_tasks=2))
        return jobs

    def sim_config(self) -> SimConfig:
        scripted = {
            f"{ds}/{interval}": script
            for (ds, interval), (_, script) in zip(self.placements(), self.outcomes(), strict=True)
            if script
        }
        workers = max(1, math.ceil(self.jobs / SLOTS_PER_WORKER))
        cluster = ClusterConfig(
            seed=self.seed,
            # A slot for every job, so N jobs really run at once.
            workers=workers,
            capacity_per_worker=SLOTS_PER_WORKER,
            min_duration_s=self.min_duration_s,
            max_duration_s=self.max_duration_s,
            transient_rate=0.0,
            structural_rate=0.0,
            scripted=scripted,
        )
        return SimConfig(cluster=cluster)

    def save(self, path: Path) -> None:
        path.write_bytes(msgspec.json.encode(self))

    @classmethod
    def load(cls, path: str | Path) -> Workload:
        return msgspec.json.decode(Path(path).read_bytes(), type=cls)
