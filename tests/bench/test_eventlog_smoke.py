"""The event-log benchmarks run end to end in --quick mode and write the figures the issue
asks for. Smoke only: no timing is asserted (the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from eventlog.sqlite.migrations import DEFAULT_PAGE_SIZE

ROOT = Path(__file__).resolve().parents[2]


def run_bench(module: str, out: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", module, "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures: dict[str, object] = json.loads(out.read_text())
    return figures


def test_the_append_benchmark_reports_a_ratio_and_a_p99_for_every_appender_count(
    tmp_path: Path,
) -> None:
    figures = run_bench("bench.append_throughput", tmp_path / "append.json")
    assert figures["page_size"] == DEFAULT_PAGE_SIZE  # the log's own, for both sides
    ratios = figures["ratios"]
    assert isinstance(ratios, dict)
    counts = ["1", "100", "1000", "10000"]
    for writer in ("", "thread_"):  # the default writer, then the writer thread
        assert sorted(ratios[f"{writer}append_vs_raw"], key=int) == counts
        assert all(r > 0 for r in ratios[f"{writer}append_vs_raw"].values())
        p99 = figures[f"{writer}append_p99_ms"]
        assert isinstance(p99, dict)
        assert sorted(p99, key=int) == counts
        assert all(ms > 0 for ms in p99.values())


def test_the_replay_benchmark_reports_its_ratio_and_the_rows_boot_read(tmp_path: Path) -> None:
    figures = run_bench("bench.replay_throughput", tmp_path / "replay.json")
    ratios = figures["ratios"]
    assert isinstance(ratios, dict)
    assert ratios["replay_vs_raw"] > 0
    boot = figures["boot"]
    assert isinstance(boot, dict)
    with_snapshots = boot["with_snapshots"]
    assert with_snapshots["live_jobs"] == with_snapshots["from_snapshot"] == boot["live_jobs"]
    # Only the live jobs' stream rows, snapshots and tails: never the finished jobs' events.
    assert with_snapshots["rows_read"] < boot["log_events"] // 10
