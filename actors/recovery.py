"""Boot and reconciliation: fold every open job stream, reconcile with the Overlord, and hand
each job what reconciliation found through its own actor (`actors.reconcile`)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from actors.board import JobBoard
from actors.job.messages import Command
from actors.job.stream import JobStreams
from actors.job.summary import rebuild_summaries
from actors.ports import Clock
from actors.reconcile import Reconciler, ReconcileReport
from actors.runtime import ActorRef
from actors.supervision.slots import SlotBudget
from actors.supervision.supervisor import StartJob
from actors.warm_start import WarmStart
from eventlog.errors import EventLogUnavailableError, WriterLostError
from overlord.errors import OverlordError

logger = structlog.get_logger("druid_orch.orchestrator")


class Recovery:
    def __init__(
        self,
        streams: JobStreams,
        board: JobBoard,
        reconciler: Reconciler,
        supervisor: ActorRef[Any],
        slots: SlotBudget,
        *,
        clock: Clock,
        concurrency: int,
        warm: WarmStart | None = None,
    ) -> None:
        self.streams = streams
        self.board = board
        self.reconciler = reconciler
        self.supervisor = supervisor
        self.slots = slots
        self.clock = clock
        self.concurrency = concurrency
        self.last_report: ReconcileReport | None = None
        # A standby's folds, used where their versions match the log's (`actors.warm_start`).
        self.warm = warm

    async def boot(self) -> None:
        """Fold every open job stream, reconcile with the Overlord, start the actors.

        At most `concurrency` jobs are folded and started at once, so a boot with thousands
        of live jobs neither floods the Overlord nor the event loop.
        """
        if await self.streams.log.summaries_need_rebuild():
            # A log from before the read model: fill it before anything records, so that no
            # row is written from an append the fold then overtakes.
            rows = await rebuild_summaries(self.streams.log)
            logger.info("summaries_rebuilt", jobs=rows)
        opened = await self.streams.open_job_versions()
        job_ids = list(opened)
        states = self.board.states
        limit = asyncio.Semaphore(self.concurrency)
        cold: list[str] = []
        for job_id, version in opened.items():
            cached = self.warm.job(job_id, version) if self.warm is not None else None
            if cached is not None:
                states[job_id] = cached
            else:
                cold.append(job_id)

        async def fold_one(job_id: str) -> None:
            async with limit:
                states[job_id] = await self.streams.load(job_id)

        async with asyncio.TaskGroup() as tg:
            for job_id in cold:
                tg.create_task(fold_one(job_id))
        if self.warm is not None:
            logger.info("warm_start", jobs=len(job_ids), warm=len(job_ids) - len(cold))
            self.warm = None  # the board holds the states now: the cache's memory goes
        # Claims before any actor starts: a job submitted before the restart holds its slots.
        for state in states.values():
            self.slots.observe(state)
        plan: dict[str, list[Command]] = {}
        try:
            self.last_report, plan = await self.reconciler.run(list(states.values()))
        except (OverlordError, EventLogUnavailableError, WriterLostError) as exc:
            # The Overlord could not be asked, or the log would not record the decisions (a
            # full disk): nothing was decided. The actors resolve their own state as the
            # Overlord answers and the log takes writes again, and the next periodic
            # reconcile decides afresh.
            logger.warning("boot_reconcile_failed", error=str(exc))
            self.last_report = ReconcileReport(started_at=self.clock(), error=str(exc))
        await self._deliver(plan, start_live=True)
        logger.info("recovered", jobs=len(job_ids))

    async def reconcile(self) -> ReconcileReport:
        """Reconcile every live job with the Overlord now."""
        live = [s for s in self.board.states.values() if not s.terminal]
        report, plan = await self.reconciler.run(live)
        self.last_report = report
        await self._deliver(plan, start_live=False)
        return report

    async def reconcile_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reconcile()
            except (OverlordError, EventLogUnavailableError, WriterLostError) as exc:
                # The next round tries again; a failure here must not stop the orchestrator.
                logger.warning("reconcile_failed", error=str(exc))

    async def _deliver(self, plan: dict[str, list[Command]], *, start_live: bool) -> None:
        """Hand each job its reconciliation commands through its own actor."""
        limit = asyncio.Semaphore(self.concurrency)
        jobs = set(plan)
        if start_live:
            jobs |= {j for j, s in self.board.states.items() if not s.terminal}

        async def one(job_id: str) -> None:
            # At boot the board holds what was just folded (every later change reaches it
            # through `JobStreams`): a new actor starts from it rather than folding again.
            state = self.board.states.get(job_id) if start_live else None
            async with limit:
                ref = await self.supervisor.ask(
                    StartJob(job_id, commands=plan.get(job_id, []), state=state), timeout=None
                )
                # Wait until the actor has applied what reconciliation found (and acted on
                # it), so at most `concurrency` recoveries are in flight at once.
                await self.board.settled(ref, job_id)

        async with asyncio.TaskGroup() as tg:
            for job_id in jobs:
                tg.create_task(one(job_id))
