"""`druid-orch supervisor ...` and `submit` of a Kafka spec as subprocesses, embedded and
against a daemon; and a daemon killed with SIGKILL restarts without re-POSTing a spec the
Overlord holds."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from actors.streams.messages import Reset
from actors.streams.stream import SupervisorStreams
from eventlog.sqlite import SQLiteEventLog
from service.config import load_config
from tests.actors.streams.test_actor import kafka_spec
from tests.service.processes import (
    ROOT,
    DaemonProcess,
    cli,
    eventually,
    fast_config,
    running,
    simulator,
)


def spec_file(tmp_path: Path, name: str = "clicks.json", **kwargs: str) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(kafka_spec(**kwargs)))
    return str(path)


def embedded(tmp_path: Path, overlord: str) -> list[str]:
    return ["--db", str(tmp_path / "orch.db"), "--overlord", overlord]


async def test_apply_twice_list_suspend_and_reset_from_the_command_line(tmp_path: Path) -> None:
    sim = simulator()
    async with running(sim) as overlord:
        where = embedded(tmp_path, overlord)
        first = await cli("supervisor", "apply", spec_file(tmp_path), *where)
        assert first.code == 0, first.err
        again = await cli("submit", spec_file(tmp_path), *where)  # submit applies it too
        assert again.code == 0, again.err
        listed = await cli("supervisor", "list", *where)
        assert listed.code == 0, listed.err
        header, row = listed.out.splitlines()[:2]
        assert header.split()[:4] == ["ID", "DATASOURCE", "STATE", "DETAILED"]
        assert row.split()[:3] == ["clicks", "clicks", "RUNNING"]
        assert row.split()[-1] == "yes"
        suspended = await cli("supervisor", "suspend", "clicks", "--json", *where)
        assert json.loads(suspended.out)["supervisors"][0]["desired"] == "suspended"
        no_yes = await cli("supervisor", "reset", "clicks", "--reason", "topic recreated", *where)
        assert no_yes.code == 2
        assert "--yes" in no_yes.err
        reset = await cli(
            "supervisor", "reset", "clicks", "--reason", "topic recreated", "--by", "ana",
            "--yes", "--json", *where,
        )  # fmt: skip
        assert reset.code == 0, reset.err
        assert json.loads(reset.out)["supervisors"][0]["last_reset_by"] == "ana"
        unknown = await cli("supervisor", "resume", "nope", *where)
        assert unknown.code == 1
        assert "no managed supervisor" in unknown.err
    stats = sim.stats()
    assert stats["requests"]["supervisor_create"] == 1
    assert stats["supervisor_restarts"] == 0
    assert stats["supervisor_resets"] == 1


async def test_a_bad_supervisor_spec_is_refused_with_exit_2_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    sim = simulator()
    spec = kafka_spec()
    spec["spec"]["ioConfig"]["topik"] = "x"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    async with running(sim) as overlord:
        result = await cli("supervisor", "apply", str(path), *embedded(tmp_path, overlord))
    assert result.code == 2
    assert "topik" in result.err
    assert sim.stats()["requests"].get("supervisor_create", 0) == 0


async def test_a_daemon_killed_and_restarted_never_reposts_the_spec_the_overlord_holds(
    tmp_path: Path,
) -> None:
    sim = simulator()
    db = tmp_path / "orch.db"
    async with running(sim) as overlord:
        config = tmp_path / "orch.toml"
        config.write_text(
            fast_config(overlord, db) + "[orchestrator.streams]\nhealth_interval_s = 0.2\n"
        )
        assert load_config(config, env={}).orchestrator.streams.health_interval_s == 0.2
        daemon = await DaemonProcess(config).start()
        applied = await cli("supervisor", "apply", spec_file(tmp_path), "--api", daemon.url)
        assert applied.code == 0, applied.err
        await eventually(lambda: sim.stats()["requests"].get("supervisor_status", 0) >= 1)
        daemon.signal(signal.SIGKILL)
        await daemon.finish()
        restarted = await DaemonProcess(config).start()
        again = await cli("supervisor", "apply", spec_file(tmp_path), "--api", restarted.url)
        listed = await cli("supervisor", "list", "--json", "--api", restarted.url)
        stopped = await restarted.stop()
    assert again.code == 0, again.err
    assert stopped.code == 0, stopped.err
    (view,) = json.loads(listed.out)["supervisors"]
    assert (view["supervisor_id"], view["managed"], view["in_sync"]) == ("clicks", True, True)
    stats = sim.stats()
    assert stats["supervisor_restarts"] == 0
    assert stats["requests"]["supervisor_create"] == 1


async def test_a_reset_cut_short_by_a_crash_is_never_resent_and_a_person_settles_it(
    tmp_path: Path,
) -> None:
    sim = simulator()
    async with running(sim) as overlord:
        where = embedded(tmp_path, overlord)
        applied = await cli("supervisor", "apply", spec_file(tmp_path), *where)
        assert applied.code == 0, applied.err
        # A run that wrote the reset intent and died before its call's answer.
        log = await SQLiteEventLog.open(tmp_path / "orch.db", writer="thread")
        try:
            reset = Reset(at=1.0, by="ana", reason="topic recreated")
            assert (await SupervisorStreams(log).record("clicks", reset)).events
        finally:
            await log.close()
        listed = await cli("supervisor", "list", *where)
        assert "clicks: a reset awaits its outcome" in listed.out
        answered = await cli(
            "supervisor", "reset-answer", "clicks", "--did-not-happen", "--by", "bo", "--json",
            *where,
        )  # fmt: skip
        assert answered.code == 0, answered.err
        (view,) = json.loads(answered.out)["supervisors"]
        assert view["pending"] is None
        assert view["last_error"] == "bo says the reset did not happen"
        again = await cli("supervisor", "reset-answer", "clicks", "--happened", *where)
        assert again.code == 1
        assert "no reset awaiting an answer" in again.err
    assert sim.stats()["supervisor_resets"] == 0


async def test_apply_of_a_template_applies_its_stream_section(tmp_path: Path) -> None:
    sim = simulator()
    template = str(ROOT / "specs" / "pipelines" / "clicks.toml")
    async with running(sim) as overlord:
        where = embedded(tmp_path, overlord)
        applied = await cli("supervisor", "apply", template, "--json", *where)
        again = await cli("supervisor", "apply", template, *where)
    assert applied.code == 0, applied.err
    assert again.code == 0, again.err
    (view,) = json.loads(applied.out)["supervisors"]
    assert (view["supervisor_id"], view["datasource"], view["in_sync"]) == (
        "clicks",
        "clicks",
        True,
    )
    held = sim.supervisors.supervisors["clicks"].spec
    assert held["spec"]["ioConfig"]["taskCount"] == 2
    assert sim.stats()["requests"]["supervisor_create"] == 1
