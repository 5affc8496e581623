"""The sub-task benchmark runs end to end on a tiny backfill (no timing assertions): every
variant finishes, with no deadlock and no duplicate submission, and the adaptive run records
the m its attempts were given."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.sub_tasks_backfill import backfill, table


async def test_a_tiny_backfill_runs_fixed_and_adaptive_to_the_end(tmp_path: Path) -> None:
    args = argparse.Namespace(
        slots=[6],
        days=4,
        ceiling=4,
        splits=4,
        min_duration_s=0.1,
        max_duration_s=0.2,
        timeout_s=40.0,
    )
    outcomes = [await backfill(6, m, args, tmp_path) for m in (2, None)]
    for outcome in outcomes:
        assert not outcome.deadlocked, outcome
        assert outcome.duplicates == 0
        assert outcome.submissions == 4
        assert 0 < outcome.work <= outcome.occupied <= 1.0
    assert sum(outcomes[1].chosen.values()) == 4
    assert all(1 <= m <= 4 for m in outcomes[1].chosen)
    assert "| 6 | adaptive |" in table(outcomes, args)
