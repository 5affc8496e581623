"""The console's files: served without the token (they hold no data) under a strict
Content-Security-Policy, while every route that shows data still needs the token."""

from __future__ import annotations

import aiohttp
import pytest
import yarl

from actors.errors import ConfigError
from service.api import ControlApi
from service.config import load_config


async def test_the_page_needs_no_token_and_the_data_does() -> None:
    control = ControlApi(token="t0k", console_url="http://druid.example:8888/console.html")
    runner, url = await control.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/ui", "/ui/", "/ui/app.js", "/ui/style.css", "/ui/LICENSES.txt"):
                async with http.get(url + path) as response:
                    assert response.status == 200, path
                    policy = response.headers["Content-Security-Policy"]
                    assert "script-src 'self'" in policy
                    assert "frame-ancestors 'none'" in policy
                    assert response.headers["X-Content-Type-Options"] == "nosniff"
            async with http.get(url + "/ui/app.js") as response:
                assert response.content_type == "text/javascript"
            for missing in ("/ui/nothing.js", "/ui/..%2Fapi.py", "/ui/%2E%2E%2Fconsole.py"):
                async with http.get(url + missing) as response:
                    assert response.status == 404, missing
            # The console's prefix lends its exemption to no route of the API.
            for sneaky in ("/ui/../v1/jobs", "/ui/%2E%2E/v1/jobs", "/ui/..%2Fv1%2Fjobs"):
                raw = yarl.URL(url + sneaky, encoded=True)
                async with http.get(raw) as response:
                    assert response.status in (401, 404), sneaky
            async with http.get(url + "/v1/console") as response:
                assert response.status == 401
            auth = {"Authorization": "Bearer t0k"}
            async with http.get(url + "/v1/console", headers=auth) as response:
                body = await response.json()
            assert body == {"druid_console_url": "http://druid.example:8888/console.html"}
            # A POST to the console's prefix is no file fetch: the token is still asked for.
            headers = {"Content-Type": "application/json"}
            async with http.post(url + "/ui/app.js", data="{}", headers=headers) as response:
                assert response.status in (401, 405)
    finally:
        await runner.cleanup()


def test_the_druid_console_url_is_checked_and_never_echoed() -> None:
    env = {"DRUID_ORCH_OVERLORD_CONSOLE_URL": "https://druid.example/unified-console.html"}
    assert load_config(env=env).overlord.console_url == env["DRUID_ORCH_OVERLORD_CONSOLE_URL"]
    for bad in ("druid.example:8888", "https://admin:s3cret@druid.example/"):
        with pytest.raises(ConfigError, match=r"overlord\.console_url") as caught:
            load_config(env={"DRUID_ORCH_OVERLORD_CONSOLE_URL": bad})
        assert "s3cret" not in str(caught.value)
