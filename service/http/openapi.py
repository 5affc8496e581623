"""The control API's OpenAPI 3.1 document, served at `GET /v1/openapi.json`.

Request and response bodies are the msgspec types the handlers decode and encode, turned into
JSON Schema by `msgspec.json.schema_components`, so the document cannot drift from what the
code accepts. What the types do not say (paths, statuses, query parameters) is the table
below; a test checks that every route the application registers is in it.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

__all__ = ["OPERATIONS", "openapi_document"]

_REF = "#/components/schemas/{name}"
_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "error_id": {"type": "string"}},
    "required": ["error"],
}
# What the guard and the error middleware may answer on any route.
_COMMON = {
    "400": "a bad query, or over a [limits] bound (the key is named)",
    "401": "no valid bearer token (when one is configured)",
    "403": "a foreign Origin",
    "421": "a Host that is not a loopback name, on loopback",
    "503": "booting, shutting down, or the event log cannot record",
}
_MUTATING = {
    "400": "bad input, or over a [limits] bound (the key is named)",
    "409": "not in a state that allows it",
    "502": "the Overlord refused",
    "413": "the body is over limits.max_body_bytes",
    "415": "not Content-Type: application/json",
}
_JOBS_QUERY: list[tuple[str, dict[str, Any], str]] = [
    ("phase", {"type": "string"}, "comma-separated phases"),
    ("datasource", {"type": "string"}, "one datasource"),
    ("terminal", {"type": "boolean"}, "finished jobs only, or live ones only"),
    ("interval", {"type": "string"}, "jobs whose interval overlaps this ISO-8601 interval"),
    ("changed_since", {"type": "string"}, "changed after this time (seconds or ISO-8601)"),
    ("id", {"type": "array", "items": {"type": "string"}}, "job ids (repeatable)"),
    ("limit", {"type": "integer", "minimum": 1}, "jobs per page"),
    ("cursor", {"type": "string"}, "the `next` of the previous page"),
    ("all", {"type": "boolean"}, "accepted for compatibility; every job is listed"),
]
_CHANGES_QUERY: list[tuple[str, dict[str, Any], str]] = [
    ("after", {"type": "integer", "minimum": 0}, "a log position (`position` of the last answer)"),
    ("limit", {"type": "integer", "minimum": 1}, "jobs per answer"),
    ("wait", {"type": "number", "minimum": 0, "maximum": 60}, "seconds to hold it, unchanged"),
]
_COVERAGE_QUERY: list[tuple[str, dict[str, Any], str]] = [
    ("from", {"type": "string"}, "ISO-8601 instant (default: the first job's start)"),
    ("to", {"type": "string"}, "ISO-8601 instant (default: the last job's end)"),
    (
        "view",
        {"type": "string", "enum": ["jobs", "cells"]},
        "cells: `[interval, phase, job_id, accepted_at]` rows instead of `jobs` (a calendar)",
    ),
]
_QUERIES: dict[str, list[tuple[str, dict[str, Any], str]]] = {
    "/v1/jobs": _JOBS_QUERY,
    "/v1/changes": _CHANGES_QUERY,
    "/v1/datasources/{datasource}/coverage": _COVERAGE_QUERY,
}
_NULLABLE_TEXT = ("raw", {"type": ["string", "null"]})
_MEDIA = {"/metrics": "text/plain", "/ui": "text/html", "/ui/": "text/html", "/ui/{name}": "*/*"}

# (method, path) -> summary, request type name or None, success status, response schema.
OPERATIONS: dict[tuple[str, str], tuple[str, str | None, str, dict[str, Any]]] = {
    ("get", "/healthz"): ("liveness: the process is up and can record", None, "200", {}),
    ("get", "/readyz"): ("readiness, with the reason when not ready", None, "200", {}),
    ("get", "/metrics"): ("Prometheus metrics (text)", None, "200", {}),
    ("post", "/v1/jobs"): (
        "submit a spec, a template and intervals, or a compaction",
        "SubmitRequest",
        "202",
        {"jobs": ["JobView"]},
    ),
    ("get", "/v1/jobs"): (
        "list jobs, a page at a time",
        None,
        "200",
        {"jobs": ["JobView"], "next": _NULLABLE_TEXT},
    ),
    ("get", "/v1/changes"): (
        "jobs changed after a log position (long poll)",
        None,
        "200",
        {
            "jobs": ["JobView"],
            "position": ("raw", {"type": "integer"}),
            "head": ("raw", {"type": "integer"}),
        },
    ),
    ("get", "/v1/datasources/{datasource}/coverage"): (
        "the jobs covering a datasource's intervals",
        None,
        "200",
        {
            "$": (
                "raw",
                {
                    "type": "object",
                    "properties": {
                        "datasource": {"type": "string"},
                        "from": {"type": ["string", "null"]},
                        "to": {"type": ["string", "null"]},
                        "jobs": {"type": "array", "items": {"$ref": _REF.format(name="JobView")}},
                        "cells": {"type": "array", "items": {"type": "array"}},
                    },
                    "required": ["datasource", "from", "to"],
                },
            )
        },
    ),
    ("get", "/v1/jobs/{job_id}"): (
        "one job and its event history",
        None,
        "200",
        {"job": "JobView", "events": [{}]},
    ),
    ("post", "/v1/jobs/{job_id}/cancel"): ("cancel a job", None, "200", {"job": "JobView"}),
    ("post", "/v1/jobs/{job_id}/retry"): (
        "run a dead or cancelled job again",
        "RetryRequest",
        "200",
        {"job": "JobView"},
    ),
    ("get", "/v1/datasources"): ("the Overlord breaker and paused datasources", None, "200", {}),
    ("post", "/v1/datasources/{datasource}/resume"): (
        "resume a paused datasource",
        None,
        "200",
        {},
    ),
    ("post", "/v1/reconcile"): (
        "reconcile with the Overlord now",
        None,
        "200",
        {"$": "ReconcileReport"},
    ),
    ("get", "/v1/reconcile/last"): (
        "the last reconciliation's report",
        None,
        "200",
        {"$": "ReconcileReport"},
    ),
    ("get", "/v1/openapi.json"): ("this document", None, "200", {}),
    # The web console (service/ui/): its page and files, served without the token.
    ("get", "/ui"): ("the web console's page (HTML)", None, "200", {}),
    ("get", "/ui/"): ("the web console's page (HTML)", None, "200", {}),
    ("get", "/ui/{name}"): ("a file of the web console (script, style)", None, "200", {}),
    ("get", "/v1/console"): (
        "the web console's settings",
        None,
        "200",
        {"druid_console_url": _NULLABLE_TEXT},
    ),
    ("get", "/v1/supervisors"): (
        "managed and unmanaged supervisors",
        None,
        "200",
        {"supervisors": ["SupervisorView"]},
    ),
    ("post", "/v1/supervisors"): (
        "apply a Kafka or Kinesis supervisor spec",
        "SupervisorSpec",
        "200",
        {"supervisor": "SupervisorView"},
    ),
    ("get", "/v1/supervisors/{sid}"): (
        "one supervisor and its event history",
        None,
        "200",
        {"supervisor": "SupervisorView", "events": [{}]},
    ),
    **{
        ("post", f"/v1/supervisors/{{sid}}/{action}"): (
            f"{action} a supervisor",
            "ActionRequest",
            "200",
            {"supervisor": "SupervisorView"},
        )
        for action in ("suspend", "resume", "terminate")
    },
    ("post", "/v1/supervisors/{sid}/reset"): (
        "reset a supervisor's offsets",
        "ResetRequest",
        "200",
        {"supervisor": "SupervisorView"},
    ),
    ("post", "/v1/supervisors/{sid}/reset-answer"): (
        "settle a reset whose answer was lost",
        "ResetAnswer",
        "200",
        {"supervisor": "SupervisorView"},
    ),
}
# Bodies a route reads only when one is sent.
_OPTIONAL_BODY = frozenset({"RetryRequest", "ActionRequest"})


def _schema(shape: Any) -> dict[str, Any]:
    """A response shape of the table as JSON Schema: a type name, [item], or {field: shape}."""
    if isinstance(shape, tuple):  # ("raw", a JSON Schema as it is)
        raw: dict[str, Any] = shape[1]
        return raw
    if isinstance(shape, str):
        return {"$ref": _REF.format(name=shape)}
    if isinstance(shape, list):
        return {"type": "array", "items": _schema(shape[0]) if shape else {}}
    if "$" in shape:
        return _schema(shape["$"])
    if not shape:
        return {"type": "object"}
    properties = {key: _schema(value) for key, value in shape.items()}
    return {"type": "object", "properties": properties, "required": sorted(properties)}


def _components() -> dict[str, Any]:
    from actors.job.view import JobView
    from actors.reconcile import ReconcileReport
    from actors.streams.facade import SupervisorView
    from service.http.jobs import RetryRequest
    from service.http.supervisors import ActionRequest, ResetAnswer, ResetRequest
    from service.intake import SubmitRequest

    types = [SubmitRequest, RetryRequest, ActionRequest, ResetRequest, ResetAnswer]
    _, components = msgspec.json.schema_components(
        [*types, JobView, SupervisorView, ReconcileReport], ref_template=_REF
    )
    _times_as_written(components["JobView"])
    components["SupervisorSpec"] = {"type": "object", "description": "a Druid supervisor spec"}
    components["Error"] = _ERROR
    return components


def _times_as_written(job: dict[str, Any]) -> None:
    """A job's times as `service.http.job_json` writes them: ISO 8601, epoch beside."""
    from service.http.job_json import TIME_FIELDS

    for name in TIME_FIELDS:
        job["properties"][name] = {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
            "default": None,
        }
        job["properties"][f"{name}_epoch"] = {
            "anyOf": [{"type": "number"}, {"type": "null"}],
            "default": None,
            "description": f"`{name}` in seconds since the epoch",
        }


def _operation(method: str, path: str) -> dict[str, Any]:
    summary, request, status, response = OPERATIONS[(method, path)]
    parameters: list[dict[str, Any]] = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for part in path.split("/")
        if part.startswith("{")
    ]
    if method == "get":
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": schema, "description": d}
            for name, schema, d in _QUERIES.get(path, [])
        ]
    error = {"content": {"application/json": {"schema": {"$ref": _REF.format(name="Error")}}}}
    extra = {**_COMMON, **(_MUTATING if method == "post" else {})}
    if parameters and any(p["in"] == "path" for p in parameters):
        extra["404"] = "unknown job or supervisor"
    if path in ("/metrics", "/v1/reconcile/last"):
        extra["404"] = "metrics are off, or no reconciliation has run yet"
    if path == "/ui/{name}":
        extra["404"] = "the console has no such file"
    media = _MEDIA.get(path, "application/json")
    responses: dict[str, Any] = {
        status: {"description": "ok", "content": {media: {"schema": _schema(response)}}},
        **{code: {"description": text, **error} for code, text in sorted(extra.items())},
    }
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if request is not None:
        operation["requestBody"] = {
            "required": request not in _OPTIONAL_BODY,
            "content": {"application/json": {"schema": {"$ref": _REF.format(name=request)}}},
        }
    if path in ("/healthz", "/readyz") or path.startswith("/ui"):
        operation["security"] = []  # the probes and the console's files need no token
    return operation


@functools.cache
def _document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path in OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(method, path)
    return {
        "openapi": "3.1.0",
        "info": {"title": "druid-orchestrator control API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": _components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def openapi_document() -> dict[str, Any]:
    """The document (built once). A state-changing request must be `application/json`, even
    one without a body."""
    return _document()
