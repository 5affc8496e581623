"""The lifecycle benchmark runs end to end in `--quick` mode (no timing assertions).

It starts real processes (the simulator, the orchestrator, the DruidHook-style baseline), so
it proves the benchmark still works against the current actors/ and overlord/, and that both
sides bring every job to the state the workload script calls for.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"wall_s", "cpu_ms_per_job", "rss_mb_per_live_job", "overlord_requests_per_job"}


def test_quick_lifecycle_run_reports_both_sides_and_their_ratios(tmp_path: Path) -> None:
    out = tmp_path / "lifecycle.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.lifecycle_load",
            "--quick",
            "--json",
            str(out),
            "--out-dir",
            str(tmp_path / "scratch"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(out.read_text())
    for side in ("orchestrator", "baseline"):
        figures = report[side]
        assert KEYS | {"record_delay_p99_s"} <= figures.keys()
        assert figures["ok"], figures["runs"]
        assert figures["overlord_requests_per_job"] > 0
        run = figures["runs"][0]
        assert run["records"] > 0
        assert run["records_unmatched"] == 0
    assert {k for k, v in report["ratios"].items() if v is not None} >= KEYS
    # The quick workload includes structural failures: the orchestrator stops them as dead.
    assert report["orchestrator"]["runs"][0]["outcomes"].get("dead", 0) > 0
