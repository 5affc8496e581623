"""The control API's read side over a real orchestrator: pages, filters, cursors, the change
feed and coverage, all answered from the read model, and bad questions refused with 400."""

from __future__ import annotations

import asyncio
from pathlib import Path

from service.demo import demo_config
from tests.service.test_api import TEMPLATE, Api, serving

MARCH = "2024-03-01/2024-03-11"


async def submitted(api: Api, interval: str = MARCH) -> list[str]:
    status, body = await api.call(
        "POST", "/v1/jobs", json={"template": TEMPLATE, "intervals": [interval]}
    )
    assert status == 202, body
    return [j["job_id"] for j in body["jobs"]]


async def test_pages_filters_and_the_change_feed_agree_on_the_same_jobs(tmp_path: Path) -> None:
    async with serving(tmp_path / "api.db", demo_config()) as api:
        _, head = await api.call("GET", "/v1/changes", params={"after": "0"})
        ids = await submitted(api)
        assert len(ids) == 10
        await api.until_terminal(ids)
        # The change feed after the head before the submission holds exactly these jobs.
        _, feed = await api.call("GET", "/v1/changes", params={"after": str(head["head"])})
        assert sorted(j["job_id"] for j in feed["jobs"]) == sorted(ids)
        assert all(j["terminal"] for j in feed["jobs"])
        positions = [j["job_id"] for j in feed["jobs"]]
        assert len(positions) == len(set(positions)), "the feed gives each job once"
        _, later = await api.call(
            "GET", "/v1/changes", params={"after": str(feed["position"]), "wait": "0.2"}
        )
        assert later["jobs"] == []
        assert later["position"] == feed["position"]
        # Pages in job id order, three at a time, through the cursor.
        seen: list[str] = []
        params = {"limit": "3", "datasource": "wikipedia"}
        while True:
            status, page = await api.call("GET", "/v1/jobs", params=params)
            assert status == 200
            assert len(page["jobs"]) <= 3
            seen += [j["job_id"] for j in page["jobs"]]
            if page["next"] is None:
                break
            params = {**params, "cursor": page["next"]}
        assert seen == sorted(ids)
        # Looking at one job does not change what a list shows.
        _, before = await api.call("GET", "/v1/jobs", params={"phase": "succeeded"})
        await api.call("GET", f"/v1/jobs/{ids[0]}")
        _, after = await api.call("GET", "/v1/jobs", params={"phase": "succeeded"})
        assert before == after
        _, terminal = await api.call("GET", "/v1/jobs", params={"terminal": "true"})
        assert sorted(j["job_id"] for j in terminal["jobs"]) == sorted(ids)
        _, live = await api.call("GET", "/v1/jobs", params={"terminal": "false"})
        assert live["jobs"] == []
        _, overlap = await api.call(
            "GET", "/v1/jobs", params={"interval": "2024-03-03T12:00:00Z/2024-03-05"}
        )
        assert [j["interval"][:10] for j in overlap["jobs"]] == ["2024-03-03", "2024-03-04"]
        _, later_than_all = await api.call(
            "GET", "/v1/jobs", params={"changed_since": "2999-01-01T00:00:00Z"}
        )
        assert later_than_all["jobs"] == []
        _, since_epoch = await api.call("GET", "/v1/jobs", params={"changed_since": "0"})
        assert len(since_epoch["jobs"]) == 10
        _, cover = await api.call(
            "GET",
            "/v1/datasources/wikipedia/coverage",
            params={"from": "2024-02-28", "to": "2024-03-04"},
        )
        assert [j["interval"][:10] for j in cover["jobs"]] == [
            "2024-03-01",
            "2024-03-02",
            "2024-03-03",
        ]


async def test_the_calendar_cells_follow_the_log_and_its_range(tmp_path: Path) -> None:
    """`view=cells` answers are kept while the log's head stays put: never a stale phase."""
    async with serving(tmp_path / "api.db", demo_config()) as api:
        path = "/v1/datasources/wikipedia/coverage"
        ids = await submitted(api, "2024-03-01/2024-03-04")
        _, early = await api.call("GET", path, params={"view": "cells"})
        assert [c[2] for c in early["cells"]] == ids
        await api.until_terminal(ids)
        _, done = await api.call("GET", path, params={"view": "cells"})
        assert [c[1] for c in done["cells"]] == ["succeeded"] * 3
        _, again = await api.call("GET", path, params={"view": "cells"})
        assert again == done
        # Another range, then the first again: each its own rows.
        _, part = await api.call("GET", path, params={"view": "cells", "from": "2024-03-02"})
        assert [c[2] for c in part["cells"]] == ids[1:]
        _, whole = await api.call("GET", path, params={"view": "cells"})
        assert whole == done


async def test_a_long_poll_wakes_when_a_job_changes(tmp_path: Path) -> None:
    async with serving(tmp_path / "api.db", demo_config()) as api:
        _, head = await api.call("GET", "/v1/changes", params={"after": "0"})
        waiting = asyncio.ensure_future(
            api.call("GET", "/v1/changes", params={"after": str(head["head"]), "wait": "30"})
        )
        await asyncio.sleep(0.2)
        assert not waiting.done()
        ids = await submitted(api, "2024-03-01/2024-03-02")
        status, body = await asyncio.wait_for(waiting, 10)
        assert status == 200
        assert [j["job_id"] for j in body["jobs"]] == ids


async def test_bad_questions_are_refused_with_400_and_say_why(tmp_path: Path) -> None:
    async with serving(tmp_path / "api.db", demo_config()) as api:
        cases = [
            ("/v1/jobs", {"phase": "runing"}, "unknown phase 'runing'"),
            ("/v1/jobs", {"cursor": "garbage"}, "not a cursor"),
            ("/v1/jobs", {"limit": "ten"}, "limit must be a whole number"),
            ("/v1/jobs", {"interval": "yesterday"}, "interval"),
            ("/v1/changes", {"after": "-1"}, "after must be a log position"),
            ("/v1/changes", {"after": "2" * 32}, "after must fit in 64 bits"),  # fuzz found it
            ("/v1/changes", {"wait": "600"}, "wait must be from 0 to 60"),
            ("/v1/datasources/wikipedia/coverage", {"from": "soon"}, "not an ISO-8601 date"),
        ]
        for path, params, message in cases:
            status, body = await api.call("GET", path, params=params)
            assert status == 400, (path, params, body)
            assert message in body["error"], (message, body)
        too_many = [("id", f"job{n}") for n in range(1001)]
        status, body = await api.call("GET", "/v1/jobs", params=too_many)
        assert status in (400, 414, 431)  # refused, whether by the line limit or by us
        status, body = await api.call("GET", "/v1/jobs", params={"limit": "5000"})
        assert status == 400  # over the bound: refused with its key, not silently cut
        assert "limits.max_list_items" in body["error"]
