"""A web page in the operator's browser against the daemon on loopback: the simple requests a
page may send without a preflight, a foreign Origin, and DNS rebinding. Each is refused by a
real daemon process and leaves the event log as it was."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import aiohttp

from tests.security.support import JSON, TEMPLATE, call, daemon

SUBMIT = json.dumps({"template": TEMPLATE, "intervals": ["2024-01-01/2024-01-02"]})


async def test_a_cross_site_text_plain_post_is_refused_and_nothing_is_recorded(
    tmp_path: Path,
) -> None:
    async with daemon(tmp_path) as d:
        before = d.events()
        page = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
        status, body = await call(d.url, "POST", "/v1/jobs", headers=page, data=SUBMIT)
        assert status == 403
        assert "cross-origin" in body["error"]
        # Without an Origin (a non-browser client, or an old one), text/plain is still no JSON.
        plain = {"Content-Type": "text/plain"}
        status, body = await call(d.url, "POST", "/v1/jobs", headers=plain, data=SUBMIT)
        assert status == 415
        assert "application/json" in body["error"]
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        status, _ = await call(d.url, "POST", "/v1/reconcile", headers=form, data="a=1")
        assert status == 415
        # A bodyless POST sends no Content-Type at all, and is refused the same way.
        assert (await call(d.url, "POST", "/v1/reconcile"))[0] == 415
        assert d.events() == before
        assert (await call(d.url, "GET", "/v1/jobs"))[1] == {"jobs": [], "next": None}
        # The same request as our own tools send it is accepted.
        own = {**JSON, "Origin": d.url}
        status, body = await call(d.url, "POST", "/v1/jobs", headers=own, data=SUBMIT)
        assert status == 202, body
        assert d.events() > before


async def test_a_foreign_origin_is_refused_even_with_json_and_on_reads(tmp_path: Path) -> None:
    async with daemon(tmp_path) as d:
        before = d.events()
        evil = {**JSON, "Origin": "http://127.0.0.1.evil.example"}
        status, _ = await call(d.url, "POST", "/v1/jobs", headers=evil, data=SUBMIT)
        assert status == 403
        status, _ = await call(d.url, "GET", "/v1/jobs", headers={"Origin": "null"})
        assert status == 403
        other_port = d.url.rsplit(":", 1)[0] + ":1"
        status, _ = await call(d.url, "GET", "/v1/jobs", headers={"Origin": other_port})
        assert status == 403, "another port is another origin"
        assert d.events() == before


async def test_a_rebinding_host_is_refused_and_loopback_names_are_served(
    tmp_path: Path,
) -> None:
    async with daemon(tmp_path) as d:
        before = d.events()
        rebound = {"Host": f"evil.example:{d.port}"}
        status, body = await call(d.url, "GET", "/v1/jobs", headers=rebound)
        assert status == 421
        assert "evil.example" in body["error"]
        # The page's own origin matches its Host, so only the Host check stops it.
        attack = {**JSON, **rebound, "Origin": f"http://evil.example:{d.port}"}
        status, _ = await call(d.url, "POST", "/v1/jobs", headers=attack, data=SUBMIT)
        assert status == 421
        assert d.events() == before
        for host in (f"localhost:{d.port}", f"127.0.0.1:{d.port}", f"[::1]:{d.port}", "localhost"):
            status, _ = await call(d.url, "GET", "/v1/jobs", headers={"Host": host})
            assert status == 200, host


async def test_the_unix_socket_is_owner_only_and_serves_without_the_host_check(
    tmp_path: Path,
) -> None:
    # A socket path must fit in 108 bytes, which pytest's tmp_path may not.
    with tempfile.TemporaryDirectory(prefix="orch-") as short:
        await _serve_on_socket(tmp_path, Path(short) / "api.sock")


async def _serve_on_socket(tmp_path: Path, path: Path) -> None:
    async with daemon(tmp_path, api_extra=f'unix_socket = "{path}"') as d:
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600
        connector = aiohttp.UnixConnector(path=str(path))
        async with aiohttp.ClientSession(connector=connector) as http:
            status, body = await call(
                "http://any-name", "GET", "/v1/jobs", session=http, headers={"Host": "anything"}
            )
            assert (status, body) == (200, {"jobs": [], "next": None})
            status, _ = await call(
                "http://localhost", "POST", "/v1/jobs", session=http, headers=JSON, data=SUBMIT
            )
            assert status == 202
            status, _ = await call(
                "http://localhost", "POST", "/v1/jobs", session=http, data=SUBMIT
            )
            assert status == 415, "the socket is guarded like the port, but for Host"
        assert d.events() > 0
