"""The files in `examples/` work as their comments say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from service.config import load_config
from tests.service.processes import ROOT, clean_env

EXAMPLES = ROOT / "examples"


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "embedding.py"), *args],
        cwd=ROOT,
        env=clean_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_the_embedding_example_runs_three_jobs_against_the_simulator(tmp_path: Path) -> None:
    db = tmp_path / "orch.db"
    first = run_example("--db", str(db))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "submitted 3 jobs" in first.stdout
    assert first.stdout.count("succeeded") >= 3
    assert "events recorded" in first.stdout
    again = run_example("--db", str(db))
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("attempt 1") + again.stdout.count("attempt 2") >= 3


def test_the_example_config_loads_and_is_the_documented_shape() -> None:
    config = load_config(EXAMPLES / "orch.toml", env={})
    assert config.api.host == "127.0.0.1"
    assert config.eventlog.db == "orch.db"
    assert config.orchestrator.reconcile_interval_s == 300
    assert config.orchestrator.datasource_breaker.structural_limit == 3
