"""SIGKILL the orchestrator at random moments, many times; it must finish right anyway.

Runs `bench/crash_soak.py` small: the orchestrator as its own process on a file-backed log
against the simulator (120 jobs; 60 in the second run), killed 9 times (in two rounds of
three by itself, right after a submit intent is on disk or right after the Overlord accepted
a POST the log does not hold yet), restarted each time, then let finish. From the
simulator's own record and from the log: every job in its expected state, no task submitted
twice, never more than one live task per interval, no reconciliation that would resubmit a
task the Overlord held, the hash chain verifies and every stream replays. The second run
does the same while the Overlord restarts (forgetting its running tasks; no leader, then a
leader warming up, for a second each time) and fails over between two simulators that
share one task store.
`python -m bench.crash_soak` is the long version.
"""

from __future__ import annotations

from pathlib import Path

from bench.crash_soak import restarts_and_failover, steady

JOBS = 120
KILLS = 9


async def test_sigkill_at_random_moments_never_loses_or_duplicates_work(tmp_path: Path) -> None:
    result = await steady(tmp_path / "crash.db", JOBS, KILLS, seed=11)
    assert result.died.after_submit > 0, "no worker died between a POST and its record"
    assert result.duplicate_submissions == 0
    assert result.max_live_tasks_per_interval == 1
    assert result.problems == []


async def test_sigkill_while_the_overlord_restarts_and_fails_over(tmp_path: Path) -> None:
    # Half the jobs: the Overlord's restarts make each job's tasks run again and again (223
    # tasks forgotten with 120 jobs, 109 with 60), and the last worker's run to the end was
    # half of the suite's longest test.
    result = await restarts_and_failover(tmp_path / "crash.db", JOBS // 2, KILLS, seed=12)
    assert result.forgotten_by_restarts > 0, "Overlord restarts should have forgotten tasks"
    assert result.refused_while_restarting > 0, "workers should have met a restarting Overlord"
    assert result.died.after_submit > 0, "no worker died between a POST and its record"
    assert result.duplicate_submissions == 0
    assert result.max_live_tasks_per_interval == 1
    assert result.problems == []
