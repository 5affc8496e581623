"""The read model's end-to-end benchmark runs tiny and compares both variants, and its log
without rows really writes none while still answering for the jobs. No timing is asserted
(the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from actors.job.summary import summary_of
from bench.read_model import _job_events
from bench.summaryless_log import SummarylessLog
from eventlog.sqlite import SQLiteEventLog
from eventlog.summaries import SummaryQuery

ROOT = Path(__file__).resolve().parents[2]


def test_the_end_to_end_benchmark_reports_both_variants_with_positive_rates(
    tmp_path: Path,
) -> None:
    out = tmp_path / "e2e.json"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "bench.read_model_e2e", "--quick", "--repeat", "1"),
            *("--json", str(out), "--out-dir", str(tmp_path / "scratch")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    record = json.loads(out.read_text())
    assert record["command"].startswith("python -m bench.read_model_e2e")
    (round_,) = record["runs"]
    for variant in ("with", "without"):
        run = round_[variant]
        assert run["ok"], run["outcomes"]
        assert run["figures"]["jobs_per_s"] > 0
        assert run["figures"]["events_per_s"] > 0
        assert record[variant]["cpu_ms_per_job"] > 0
    for ratio in ("jobs_per_s", "events_per_s", "cpu_ms_per_job"):
        assert record["ratios"][ratio]["median"] > 0


async def test_a_log_without_rows_writes_none_yet_answers_for_the_job(tmp_path: Path) -> None:
    job_id, events, state = _job_events(0)
    summary = summary_of(state)
    counts = {}
    for name, cls in (("shipped", SQLiteEventLog), ("without", SummarylessLog)):
        async with cls(tmp_path / f"{name}.db", writer="thread") as log:
            await log.append(f"job:{job_id}", events, 0, close_stream=True, summary=summary)
            counts[name] = await log.phase_counts()
            page = await log.job_summaries(SummaryQuery())
            assert [s.job_id for s in page.jobs] == ([job_id] if name == "shipped" else [])
            found = await log.job_summary(job_id)
            assert found is not None
            assert found.phase == summary.phase == "succeeded"
    assert counts == {"shipped": {"succeeded": 1}, "without": {}}
