"""What a person reads from the CLI, run as a process: tables fitted to an 80-column
terminal, the names people type, times with their zone, and what embedded mode leaves."""

from __future__ import annotations

import asyncio
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from actors.supervision.alerts import Alert
from service.cli.table import colour_wanted
from service.cli.target import OneLineAlerts
from tests.service.processes import (
    FAST_ORCHESTRATOR,
    ROOT,
    Result,
    clean_env,
    cli,
    running,
    simulator,
)

PIPELINE = str(ROOT / "specs" / "pipelines" / "wikipedia.toml")
NARROW = clean_env(COLUMNS="80")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


DEAD_DAYS = ("2024-07-19", "2024-07-20", "2024-07-21")


@pytest.fixture(scope="module")
def backlog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Result]:
    """Three days dead (their input is missing), then 200 daily jobs accepted on the same
    log with an Overlord that cannot be reached (nothing listens on port 9): every one is
    held, as in an outage. Returns the log, what the second `submit` said, and the first."""
    db = tmp_path_factory.mktemp("backlog") / "orch.db"
    fast = db.parent / "fast.toml"
    fast.write_text(FAST_ORCHESTRATOR)
    missing = {f"wikipedia/{d}T00:00:00.000Z/{_next(d)}T00:00:00.000Z" for d in DEAD_DAYS}

    async def make() -> tuple[str, Result]:
        sim = simulator(scripted={key: ["structural:missing_input"] for key in missing})
        async with running(sim) as overlord:
            args = ["submit", PIPELINE, "--interval", "2024-07-19/2024-07-22", "--wait"]
            dead = await cli(*args, "--db", str(db), "--overlord", overlord, "--config", str(fast))
        assert dead.code == 1, dead.err
        args = ["submit", PIPELINE, "--interval", "2024-01-01/2024-07-19"]
        target = ["--db", str(db), "--overlord", "http://127.0.0.1:9"]
        result = await cli(*args, *target, env=NARROW)
        assert result.code == 0, result.err
        return result.out, dead

    out, dead = asyncio.run(make())
    return db, out, dead


def _next(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


async def test_status_of_200_jobs_fits_80_columns_and_ends_with_a_count(
    backlog: tuple[Path, str, Result],
) -> None:
    db, _, _ = backlog
    result = await cli("status", "--db", str(db), env=NARROW)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    too_long = [line for line in lines if len(line) > 80]
    assert not too_long, too_long[:3]
    assert lines[0].split() == ["JOB", "PHASE", "TRY", "WHEN", "WHY"]
    assert lines[1].startswith("wikipedia/2024-01-01  accepted")
    assert lines[-1] == "203 jobs: 200 accepted, 3 dead"
    assert "... 153 more (--limit 0 shows all" in lines[-2]
    # Under a limit, the jobs that need a person are kept: the dead ones, with their
    # classified reason in the row and in full under the table.
    dead = [line for line in lines if "  dead  " in line]
    assert [line.split()[0] for line in dead] == [f"wikipedia/{d}" for d in DEAD_DAYS]
    assert all("structural (missing-input): " in line for line in dead)
    assert "wikipedia/2024-07-19: structural (missing-input): the input data does not" in (
        result.out
    )
    # 3 structural failures paused the datasource: said once, with how to resume it.
    assert "200 jobs held: datasource wikipedia is paused (3 structural" in result.out
    assert "`druid-orch resume wikipedia` lets it go on" in result.out
    assert "orch_wikipedia" not in result.out, "no ids, no Druid task ids without --wide"


async def test_submit_without_wait_says_what_it_leaves_in_flight_and_how_to_follow(
    backlog: tuple[Path, str, Result],
) -> None:
    db, out, _ = backlog
    assert out.startswith("accepted 200 jobs\n")
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "200 jobs left in flight (200 accepted)" in out
    # What holds them (no Overlord to ask about streaming), said once, not per row.
    assert len(re.findall(r"^200 jobs held: ", out, re.M)) == 1
    assert "... 150 more" in out
    assert f"`druid-orch follow --db {db} --overlord http://127.0.0.1:9`" in " ".join(
        line.strip() for line in out.splitlines()
    )


async def test_a_job_is_named_by_handle_date_prefix_or_interval_and_times_have_a_zone(
    backlog: tuple[Path, str, Result],
) -> None:
    db, _, _ = backlog
    target = ["--db", str(db)]
    names = ["wikipedia/2024-01-07", "orch_wikipedia_20240108", "2024-01-09"]
    named, month, window = await asyncio.gather(
        cli("status", *names, "--json", *target),
        cli("status", "wikipedia/2024-01", *target),
        cli("status", "--interval", "2024-01-01/2024-01-08", "--wide", *target, env=NARROW),
    )
    assert named.code == 0, named.err
    jobs = json.loads(named.out)["jobs"]
    assert [j["job_id"][:32] for j in jobs] == [
        f"orch_wikipedia_202401{d:02d}T000000Z_" for d in (7, 8, 9)
    ]
    # Times in ISO 8601 with their zone, the epoch beside for programs.
    assert ISO.match(jobs[0]["accepted_at"]), jobs[0]["accepted_at"]
    assert isinstance(jobs[0]["accepted_at_epoch"], float)
    # A name that fits several jobs lists them rather than guessing.
    assert month.code == 1
    assert "'wikipedia/2024-01' fits 31 jobs; name one of them:" in month.err
    assert "wikipedia/2024-01-01" in month.err
    assert "... 23 more" in month.err
    assert window.code == 0, window.err
    assert window.out.splitlines()[-1] == "7 jobs: 7 accepted"
    assert window.out.split()[:3] == ["JOB", "DATASOURCE", "INTERVAL"], "--wide: the ids"
    assert window.out.count("orch_wikipedia_2024") == 7


async def test_audit_history_takes_a_handle_or_an_interval_and_shows_iso_times(
    backlog: tuple[Path, str, Result],
) -> None:
    db, _, _ = backlog
    one, two = await asyncio.gather(
        cli("audit", "history", "wikipedia/2024-07-21", "--db", str(db)),
        cli("audit", "history", "--interval", "2024-07-19/2024-07-21", "--db", str(db)),
    )
    assert one.code == 0, one.err
    assert one.out.startswith("job orch_wikipedia_20240721T000000Z_20240722T000000Z_")
    assert "rule: missing-input -> structural" in one.out
    stamps = [line.split()[0] for line in one.out.splitlines()[1:] if line[:1].isdigit()]
    assert stamps
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", s) for s in stamps), stamps
    assert two.code == 0, two.err
    assert [line[:32] for line in two.out.splitlines() if line.startswith("job ")] == [
        "job orch_wikipedia_20240719T0000",
        "job orch_wikipedia_20240720T0000",
    ]


async def test_an_alert_is_one_line_in_the_output_and_no_json_reaches_the_terminal(
    backlog: tuple[Path, str, Result],
) -> None:
    _, _, dead = backlog
    alerts = sorted(line for line in dead.out.splitlines() if line.startswith("ALERT "))
    assert alerts == [
        f"ALERT wikipedia/{day}: structural failure, rule missing-input: not retried "
        f"(once fixed: druid-orch retry wikipedia/{day})"
        for day in DEAD_DAYS
    ]
    assert "job_alert" not in dead.err
    assert not [line for line in dead.err.splitlines() if line.startswith("{")], dead.err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_an_alert_clears_the_bar_and_fits_and_no_color_is_respected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    out = _Terminal()
    alert = Alert(
        job_id="orch_wikipedia_20240107T000000Z_20240108T000000Z_49d65afdbdc3",
        datasource="wikipedia",
        interval="2024-01-07T00:00:00.000Z/2024-01-08T00:00:00.000Z",
        task_id=None,
        classification="structural",
        rule="parse-errors",
        reason="rows could not be parsed " * 20,
        at=0.0,
    )
    OneLineAlerts(out).raise_alert(alert)
    text = out.getvalue()
    assert text.startswith("\r\x1b[KALERT wikipedia/2024-01-07: structural failure")
    assert text.count("\n") == 1
    assert len(text.removeprefix("\r\x1b[K").rstrip("\n")) <= 60
    assert colour_wanted(out)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_wanted(out)


def test_a_job_held_by_the_open_breaker_says_why_the_breaker_opened() -> None:
    from actors.job.state import JobState
    from actors.job.view import hold_reason
    from actors.supervision.breakers import plain_cause

    cause = plain_cause("tasks: GET /druid/indexer/v1/tasks: cannot connect to http://o:8081")
    assert cause == "cannot connect to http://o:8081"
    held = hold_reason(JobState(job_id="j", phase="accepted", datasource="d"), {}, cause)
    assert held == (
        "the Overlord circuit breaker is open (cannot connect to http://o:8081); "
        "submissions wait until it closes"
    )
