"""The OpenAPI document covers exactly the routes the application registers, and the daemon
serves it."""

from __future__ import annotations

import aiohttp
import msgspec

from service.api import ControlApi
from service.http.openapi import openapi_document


def registered() -> set[tuple[str, str]]:
    app = ControlApi().app()
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None  # HEAD comes with each GET
    }


def documented() -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, operations in openapi_document()["paths"].items()
        for method in operations
    }


def test_every_registered_route_is_in_the_document_and_nothing_else() -> None:
    routes = registered()
    assert ("post", "/v1/supervisors/{sid}/reset-answer") in routes
    assert routes - documented() == set(), "routes missing from service/http/openapi.py"
    assert documented() - routes == set(), "documented routes the app does not serve"


def test_every_schema_reference_resolves() -> None:
    document = openapi_document()
    text = repr(document)
    names = set(document["components"]["schemas"])
    refs = {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}
    assert refs <= names


async def test_the_api_serves_the_document_without_booting_and_behind_the_token() -> None:
    control = ControlApi(token="t0k")
    runner, url = await control.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/v1/openapi.json") as response:
                assert response.status == 401
            auth = {"Authorization": "Bearer t0k"}
            async with http.get(url + "/v1/openapi.json", headers=auth) as response:
                assert response.status == 200
                served = await response.json()
        assert served == msgspec.json.decode(msgspec.json.encode(openapi_document()))
        assert served["openapi"].startswith("3.")
    finally:
        await runner.cleanup()
