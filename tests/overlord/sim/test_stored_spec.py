"""The stored spec a simulated Overlord serves back (`GET /task/{id}`), as Druid's does:
passwords left out (REFERENCE §4.5)."""

from __future__ import annotations

from typing import Any

from overlord.client import HttpOverlord


def http_ingestion(task_id: str, password: Any) -> dict[str, Any]:
    return {
        "type": "index_parallel",
        "id": task_id,
        "spec": {
            "dataSchema": {
                "dataSource": "wiki",
                "granularitySpec": {"intervals": ["2024-01-01/2024-01-02"]},
            },
            "ioConfig": {
                "type": "index_parallel",
                "inputSource": {
                    "type": "http",
                    "uris": ["https://example.com/a.json"],
                    "httpAuthenticationUsername": "loader",
                    "httpAuthenticationPassword": password,
                },
                "inputFormat": {"type": "json"},
            },
        },
    }


async def test_the_stored_spec_leaves_out_the_passwords_it_was_given(
    overlord: HttpOverlord,
) -> None:
    # Druid stores and serves a task through a mapper that leaves a DefaultPasswordProvider's
    # password out; a bare string password is read as one, so both come back the same.
    await overlord.submit(http_ingestion("as-object", {"type": "default", "password": "pw-1"}))
    await overlord.submit(http_ingestion("as-string", "pw-2"))
    for task_id in ("as-object", "as-string"):
        payload = await overlord.task_spec(task_id)
        source = payload["spec"]["ioConfig"]["inputSource"]
        assert source["httpAuthenticationPassword"] == {"type": "default"}
        assert source["httpAuthenticationUsername"] == "loader"
        assert "pw-" not in repr(payload)


async def test_a_password_read_from_the_environment_is_served_as_given(
    overlord: HttpOverlord,
) -> None:
    provider = {"type": "environment", "variable": "HTTP_INPUT_PASSWORD"}
    await overlord.submit(http_ingestion("from-env", provider))
    payload = await overlord.task_spec("from-env")
    assert payload["spec"]["ioConfig"]["inputSource"]["httpAuthenticationPassword"] == provider
