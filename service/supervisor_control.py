"""The two ways the CLI drives managed supervisors, behind one interface (as
`service.control` does for jobs): a running daemon's control API, or the orchestrator
opened in this process. Both return `SupervisorView`s.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

import aiohttp
import msgspec

from actors.orchestrator import Orchestrator
from actors.streams.facade import SupervisorView
from service.config import Config
from service.control import ControlError, embedded

__all__ = ["Action", "EmbeddedSupervisors", "RemoteSupervisors", "SupervisorControl"]

Action = Literal["suspend", "resume", "terminate"]


class SupervisorControl(Protocol):
    async def apply(self, spec: dict[str, Any]) -> SupervisorView: ...

    async def list(self) -> list[SupervisorView]: ...

    async def act(self, action: Action, sid: str, by: str, reason: str) -> SupervisorView: ...

    async def reset(self, sid: str, by: str, reason: str) -> SupervisorView: ...

    async def answer(self, sid: str, happened: bool, by: str) -> SupervisorView: ...


class RemoteSupervisors:
    def __init__(self, session: aiohttp.ClientSession, url: str, token: str | None) -> None:
        self._session = session
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else msgspec.json.encode(body)
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method, self._url + path, data=data, headers=headers
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ControlError(f"cannot reach the daemon at {self._url}: {exc}") from exc
        try:
            decoded = msgspec.json.decode(raw) if raw else None
        except msgspec.DecodeError:
            decoded = None
        if status >= 400:
            detail = decoded.get("error") if isinstance(decoded, dict) else raw[:200].decode()
            raise ControlError(f"{method} {path}: HTTP {status}: {detail}", status)
        return decoded

    async def _view(self, method: str, path: str, body: Any = None) -> SupervisorView:
        data = await self._call(method, path, body)
        return msgspec.convert(data["supervisor"], SupervisorView)

    async def apply(self, spec: dict[str, Any]) -> SupervisorView:
        return await self._view("POST", "/v1/supervisors", spec)

    async def list(self) -> list[SupervisorView]:
        data = await self._call("GET", "/v1/supervisors")
        return msgspec.convert(data["supervisors"], list[SupervisorView])

    async def act(self, action: Action, sid: str, by: str, reason: str) -> SupervisorView:
        return await self._view(
            "POST", f"/v1/supervisors/{sid}/{action}", {"by": by, "reason": reason}
        )

    async def reset(self, sid: str, by: str, reason: str) -> SupervisorView:
        return await self._view(
            "POST", f"/v1/supervisors/{sid}/reset", {"by": by, "reason": reason}
        )

    async def answer(self, sid: str, happened: bool, by: str) -> SupervisorView:
        body = {"happened": happened, "by": by}
        return await self._view("POST", f"/v1/supervisors/{sid}/reset-answer", body)


class EmbeddedSupervisors:
    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch

    async def apply(self, spec: dict[str, Any]) -> SupervisorView:
        return await self.orch.apply_supervisor(spec)

    async def list(self) -> list[SupervisorView]:
        return await self.orch.supervisors()

    async def act(self, action: Action, sid: str, by: str, reason: str) -> SupervisorView:
        if action == "suspend":
            return await self.orch.suspend_supervisor(sid, by, reason)
        if action == "resume":
            return await self.orch.resume_supervisor(sid, by, reason)
        return await self.orch.terminate_supervisor(sid, by, reason)

    async def reset(self, sid: str, by: str, reason: str) -> SupervisorView:
        return await self.orch.reset_supervisor(sid, by, reason)

    async def answer(self, sid: str, happened: bool, by: str) -> SupervisorView:
        return await self.orch.answer_reset(sid, happened, by)


@contextlib.asynccontextmanager
async def remote_supervisors(url: str, token: str | None) -> AsyncIterator[RemoteSupervisors]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield RemoteSupervisors(session, url, token)


@contextlib.asynccontextmanager
async def embedded_supervisors(config: Config) -> AsyncIterator[EmbeddedSupervisors]:
    async with embedded(config) as control:
        yield EmbeddedSupervisors(control.orch)
