"""The read model's benchmarks run end to end in --quick mode and write their figures. Smoke
only: no timing is asserted (the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(what: str, out: Path, *extra: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.read_model", what, "--quick", "--json", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    record: dict[str, object] = json.loads(out.read_text())
    assert str(record["command"]).startswith("python -m bench.read_model")
    figures = record["figures"]
    assert isinstance(figures, dict)
    return figures


def test_the_append_benchmark_compares_appends_with_and_without_the_summary(
    tmp_path: Path,
) -> None:
    figures = run("append", tmp_path / "append.json", "--repeat", "1")
    for appenders in ("100", "1000"):
        assert figures[appenders]["with_per_s"] > 0  # type: ignore[index]
        assert figures[appenders]["ratio_median"] > 0  # type: ignore[index]


def test_the_query_benchmark_times_each_query_on_two_log_sizes(tmp_path: Path) -> None:
    figures = run("queries", tmp_path / "queries.json")
    assert sorted(figures, key=int) == ["2000", "8000"]
    for size in figures.values():
        assert isinstance(size, dict)
        assert {"db_one_job_ms", "api_page_100_dead_ms", "api_coverage_year_ms"} <= set(size)


def test_the_writer_benchmark_splits_the_writers_cpu_by_what_the_row_costs(
    tmp_path: Path,
) -> None:
    figures = run("writer", tmp_path / "writer.json", "--repeat", "1", "--batch", "26")
    assert figures["events only (no summary)"]["vs_events_only"] == 1.0  # type: ignore[index]
    assert {
        "+ 4 indexes, count triggers (schema 4)",
        "+ 4 indexes, writer's counts (schema 5)",
    } <= set(figures)
    assert all(f["us_per_append"] > 0 for f in figures.values())  # type: ignore[index]
