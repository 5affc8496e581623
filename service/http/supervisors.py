"""The control API's supervisor routes (managed Kafka / Kinesis supervisors).

    GET  /v1/supervisors                      managed ones, and unmanaged ones the Overlord lists
    POST /v1/supervisors                      apply a supervisor spec (the body is the spec)
    GET  /v1/supervisors/{id}                 one supervisor and its event history
    POST /v1/supervisors/{id}/suspend         {"by"?, "reason"?}
    POST /v1/supervisors/{id}/resume          {"by"?, "reason"?}
    POST /v1/supervisors/{id}/terminate       {"by"?, "reason"?}
    POST /v1/supervisors/{id}/reset           {"by", "reason"}: both required (400 without)
    POST /v1/supervisors/{id}/reset-answer    {"happened": true|false, "by"}: a person's answer
                                              to a reset whose outcome is unknown

They sit behind the same middlewares (auth, errors) as the other `/v1` routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from actors.streams.facade import SupervisorRefusedError, SupervisorView, UnknownSupervisorError
from overlord.redaction import redact
from service.http.job_json import recorded_dict
from service.http.responses import Running

__all__ = ["ActionRequest", "ResetAnswer", "ResetRequest", "SupervisorRoutes"]

_ENC = msgspec.json.Encoder()


class ActionRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    by: str = "api"
    reason: str = ""


class ResetRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    by: str
    reason: str


class ResetAnswer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    happened: bool
    by: str


def _json(body: Any, status: int = 200) -> web.Response:
    # Supervisor errors come from Druid and Kafka, which may quote consumer properties.
    safe = redact(msgspec.to_builtins(body))
    return web.Response(body=_ENC.encode(safe), status=status, content_type="application/json")


class _BadRequestError(Exception):
    pass


class SupervisorRoutes:
    def __init__(self, running: Running) -> None:
        """`running(mutating=...)` is the API's: the open orchestrator, or a 503."""
        self._running = running

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v1/supervisors", self._guard(self.list))
        router.add_post("/v1/supervisors", self._guard(self.apply))
        router.add_get("/v1/supervisors/{sid}", self._guard(self.one))
        for action in ("suspend", "resume", "terminate"):
            router.add_post(f"/v1/supervisors/{{sid}}/{action}", self._guard(self.action))
        router.add_post("/v1/supervisors/{sid}/reset", self._guard(self.reset))
        router.add_post("/v1/supervisors/{sid}/reset-answer", self._guard(self.answer))

    def _guard(
        self, handler: Callable[[web.Request], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def guarded(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except _BadRequestError as exc:
                return _json({"error": str(exc)}, 400)
            except UnknownSupervisorError as exc:
                return _json({"error": str(exc)}, 404)
            except SupervisorRefusedError as exc:
                return _json({"error": str(exc)}, exc.status)

        return guarded

    async def list(self, _request: web.Request) -> web.Response:
        orch = self._running()
        return _json({"supervisors": await orch.supervisors()})

    async def apply(self, request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        spec = await _body(request, dict[str, Any])
        view = await orch.apply_supervisor(spec)
        return _json({"supervisor": view}, 202 if view.pending else 200)

    async def one(self, request: web.Request) -> web.Response:
        orch = self._running()
        sid = request.match_info["sid"]
        view = await orch.get_supervisor(sid)
        history = await orch.streaming.manager.ctx.streams.history(sid) if view.managed else []
        return _json({"supervisor": view, "events": [recorded_dict(r) for r in history]})

    async def action(self, request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        sid = request.match_info["sid"]
        body = await _body(request, ActionRequest) if request.body_exists else ActionRequest()
        act = {
            "suspend": orch.suspend_supervisor,
            "resume": orch.resume_supervisor,
            "terminate": orch.terminate_supervisor,
        }[request.path.rsplit("/", 1)[-1]]
        return _reply(await act(sid, body.by, body.reason))

    async def reset(self, request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        if not request.body_exists:
            raise _BadRequestError('a reset needs a JSON body {"by": ..., "reason": ...}')
        body = await _body(request, ResetRequest)
        return _reply(await orch.reset_supervisor(request.match_info["sid"], body.by, body.reason))

    async def answer(self, request: web.Request) -> web.Response:
        orch = self._running(mutating=True)
        body = await _body(request, ResetAnswer)
        if not body.by.strip():
            raise _BadRequestError("say who answers (by)")
        sid = request.match_info["sid"]
        return _reply(await orch.answer_reset(sid, body.happened, body.by))


def _reply(view: SupervisorView) -> web.Response:
    return _json({"supervisor": view}, 202 if view.pending else 200)


async def _body(request: web.Request, kind: Any) -> Any:
    try:
        return msgspec.json.decode(await request.read(), type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _BadRequestError(f"bad request body: {exc}") from exc
