"""Each `[limits]` bound: over it, the API answers 413 or 400 naming the key, quickly, and
records nothing; the CLI refuses the same way with exit 2."""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from service.limits import LimitsSection
from tests.security.support import JSON, TEMPLATE, InProcess, call, daemon, in_process
from tests.service.processes import ROOT, cli, running, simulator

HOURLY = {**TEMPLATE, "chunk": "HOUR", "segment_granularity": "HOUR"}
FOREVER = "0001-01-01/9999-01-01"
DAY = "2024-01-01/2024-01-02"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process(tmp_path) as api:
        yield api


def body(**fields: object) -> str:
    return json.dumps({"template": TEMPLATE, "intervals": [DAY], **fields})


async def test_a_range_of_millions_of_hourly_jobs_is_refused_before_it_is_expanded(
    tmp_path: Path,
) -> None:
    async with daemon(tmp_path) as d:
        request = json.dumps({"template": HOURLY, "intervals": [FOREVER]})
        started = time.monotonic()
        status, answer = await call(d.url, "POST", "/v1/jobs", headers=JSON, data=request)
        assert time.monotonic() - started < 5, "counted, not expanded"
        assert status == 400
        assert "more than 10000 jobs" in answer["error"]
        assert "limits.max_jobs_per_submission" in answer["error"]
        assert d.events() == 0
        # Several intervals count together.
        many = json.dumps({"template": TEMPLATE, "intervals": ["2000-01-01/2020-01-01"] * 2})
        status, answer = await call(d.url, "POST", "/v1/jobs", headers=JSON, data=many)
        assert status == 400
        assert d.events() == 0


async def test_the_jobs_bound_is_a_configuration_key(tmp_path: Path) -> None:
    env = {"DRUID_ORCH_LIMITS_MAX_JOBS_PER_SUBMISSION": "2"}
    async with daemon(tmp_path, **env) as d:
        three = json.dumps({"template": TEMPLATE, "intervals": ["2024-01-01/2024-01-04"]})
        status, answer = await call(d.url, "POST", "/v1/jobs", headers=JSON, data=three)
        assert status == 400
        assert "more than 2 jobs" in answer["error"]
        assert "(limits.max_jobs_per_submission)" in answer["error"]
        two = json.dumps({"template": TEMPLATE, "intervals": ["2024-01-01/2024-01-03"]})
        assert (await call(d.url, "POST", "/v1/jobs", headers=JSON, data=two))[0] == 202


async def test_the_cli_refuses_an_oversized_range_with_exit_2_and_the_same_message(
    tmp_path: Path,
) -> None:
    template = tmp_path / "hourly.toml"
    text = (ROOT / "specs/pipelines/wikipedia.toml").read_text()
    daily = 'chunk = "DAY"\nsegment_granularity = "DAY"'
    template.write_text(text.replace(daily, daily.replace("DAY", "HOUR")))
    assert 'chunk = "HOUR"' in template.read_text()
    db = tmp_path / "cli.db"
    async with running(simulator()) as overlord:
        where = ("--db", str(db), "--overlord", overlord)
        result = await cli("submit", str(template), "--interval", FOREVER, *where, timeout=30)
    assert result.code == 2, result.err
    assert "more than 10000 jobs" in result.err
    assert "(limits.max_jobs_per_submission)" in result.err
    assert "Traceback" not in result.err
    assert not db.exists(), "refused before the log was opened"


async def test_the_cli_refuses_a_deeply_nested_spec_file_with_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "deep.json"
    spec.write_text('{"type": "index_parallel", "spec": ' + "[" * 5000 + "]" * 5000 + "}")
    where = ("--db", str(tmp_path / "cli.db"), "--overlord", "http://127.0.0.1:9")
    result = await cli("submit", str(spec), *where)
    assert result.code == 2, result.err
    assert "deep.json" in result.err
    assert "(limits.max_json_depth)" in result.err
    assert "Traceback" not in result.err
    result = await cli("supervisor", "apply", str(spec), *where)
    assert result.code == 2, result.err
    assert "(limits.max_json_depth)" in result.err


async def test_more_intervals_than_the_jobs_bound_are_refused_before_parsing(
    tmp_path: Path,
) -> None:
    async with in_process(tmp_path, LimitsSection(max_jobs_per_submission=3)) as api:
        intervals = ["not an interval"] * 4
        request = json.dumps({"template": TEMPLATE, "intervals": intervals})
        status, answer = await call(api.url, "POST", "/v1/jobs", headers=JSON, data=request)
        assert status == 400
        assert "(limits.max_jobs_per_submission)" in answer["error"]


async def test_a_body_over_the_size_bound_is_413_with_or_without_a_length(
    api: InProcess,
) -> None:
    big = json.dumps({"template": {**TEMPLATE, "pad": "x" * 1024**2}, "intervals": [DAY]}).encode()
    # A file-like body: aiohttp warns that a large bytes body blocks its loop.
    status, answer = await call(api.url, "POST", "/v1/jobs", headers=JSON, data=io.BytesIO(big))
    assert status == 413
    assert "limits.max_body_bytes" in answer["error"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 100_000  # chunked: no Content-Length to refuse up front

    status, answer = await call(api.url, "POST", "/v1/jobs", headers=JSON, data=chunks())
    assert status == 413
    assert "limits.max_body_bytes" in answer["error"]
    assert api.events() == 0


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
async def test_deep_json_is_400_naming_the_depth_bound(api: InProcess, depth: int) -> None:
    deep = '{"spec": ' + "[" * depth + "]" * depth + "}"
    status, answer = await call(api.url, "POST", "/v1/jobs", headers=JSON, data=deep)
    assert status == 400
    assert "limits.max_json_depth" in answer["error"]
    assert api.events() == 0


async def test_brackets_inside_strings_are_not_nesting(api: InProcess) -> None:
    name = '[{\\"' * 1000
    text = json.dumps({"template": {**TEMPLATE, "name": name}, "intervals": [DAY]})
    status, answer = await call(api.url, "POST", "/v1/jobs", headers=JSON, data=text)
    assert status == 202, answer


async def test_max_attempts_outside_1_to_100_is_refused(api: InProcess) -> None:
    for bad in (0, -3, 101, 10**12):
        status, answer = await call(
            api.url, "POST", "/v1/jobs", headers=JSON, data=body(max_attempts=bad)
        )
        assert status == 400, bad
        assert "between 1 and 100" in answer["error"]
        assert "limits.max_attempts" in answer["error"]
    assert api.events() == 0
    status, answer = await call(
        api.url, "POST", "/v1/jobs", headers=JSON, data=body(max_attempts=100)
    )
    assert status == 202
    assert answer["jobs"][0]["max_attempts"] == 100


async def test_lists_in_a_query_are_bounded(tmp_path: Path) -> None:
    async with in_process(tmp_path, LimitsSection(max_list_items=5)) as api:
        ids = "&".join(f"id=j{i}" for i in range(6))
        status, answer = await call(api.url, "GET", f"/v1/jobs?{ids}")
        assert status == 400
        assert "limits.max_list_items" in answer["error"]
        status, answer = await call(api.url, "GET", "/v1/jobs?limit=6")
        assert status == 400
        assert "limits.max_list_items" in answer["error"]
        assert (await call(api.url, "GET", "/v1/jobs?id=a&id=b"))[0] == 200


async def test_a_bound_set_too_low_or_too_high_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "orch.toml"
    config.write_text("[limits]\nmax_json_depth = 100000\n")
    result = await cli("run", "--config", str(config), "--check")
    assert result.code == 2
    assert "limits.max_json_depth" in result.err


async def test_an_unexpected_exception_is_a_json_500_whose_id_is_on_the_log_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class BrokenQueries:
        async def page(self, _query: object) -> object:
            raise RuntimeError("the read model broke")

    class Broken:
        queries = BrokenQueries()

    from structlog.testing import capture_logs

    async with in_process(tmp_path, orch=Broken()) as api:
        with capture_logs() as logs:
            async with aiohttp.ClientSession() as http, http.get(api.url + "/v1/jobs") as r:
                status, answer = r.status, await r.json()
    assert status == 500
    assert answer["error"] == "internal error"
    assert "broke" not in json.dumps(answer), "no detail goes to the client"
    (line,) = [entry for entry in logs if entry["event"] == "api_internal_error"]
    assert line["error_id"] == answer["error_id"]
    assert line["path"] == "/v1/jobs"
    assert "RuntimeError: the read model broke" in line["traceback"]
    assert "Traceback (most recent call last)" in line["traceback"]
