"""The daemon's control API as the Airflow provider needs it: submit, read, follow, cancel,
retry. Nothing of Airflow and nothing of the orchestrator's own packages: the provider speaks
HTTP to a daemon that may run anywhere, so a DAG's environment needs neither.

`DaemonClient` is blocking (urllib: the operator runs on a worker, where a short request is
fine); `AsyncDaemonClient` is for the trigger, which shares the triggerer's event loop with
hundreds of others and must never block it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

# Phases after which a job never changes by itself (actors/job/state.py TERMINAL).
TERMINAL = frozenset({"succeeded", "cancelled", "dead"})
# Statuses a retry can outlast: a daemon restarting (503), a proxy in front of it (502, 504).
TRANSIENT_STATUSES = frozenset({502, 503, 504})
# The change feed's longest hold (service/job_queries.py MAX_WAIT_S is 30).
MAX_WAIT_S = 30.0
MAX_PAGE = 1000


class DaemonError(Exception):
    """The daemon refused a request or could not be reached.

    Attributes:
        status: the HTTP status (0: no answer at all).
        transient: asking again later may work (unreachable, booting, draining).
    """

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status in TRANSIENT_STATUSES


def _headers(token: str | None, *, body: bool) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if body:  # the guard refuses a state-changing request that is not JSON (415)
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _failure(method: str, path: str, status: int, text: str) -> DaemonError:
    try:
        detail = str(json.loads(text).get("error", text))
    except (ValueError, AttributeError):
        detail = text[:200]
    return DaemonError(f"{method} {path}: {status} {detail}", status=status)


def jobs_query(job_ids: Iterable[str]) -> str:
    """`GET /v1/jobs` for exactly these jobs (any phase)."""
    pairs = [("id", job_id) for job_id in job_ids]
    return "/v1/jobs?" + urllib.parse.urlencode([*pairs, ("limit", str(MAX_PAGE))])


def submit_body(
    *,
    spec: Mapping[str, Any] | None = None,
    template: Mapping[str, Any] | None = None,
    intervals: Iterable[str] = (),
    name: str | None = None,
    max_attempts: int | None = None,
) -> dict[str, Any]:
    """The body of `POST /v1/jobs`: a task spec, or a pipeline template with intervals."""
    if (spec is None) == (template is None):
        raise ValueError("give exactly one of a spec and a template")
    body: dict[str, Any] = {"spec": dict(spec)} if spec is not None else {}
    if template is not None:
        body = {"template": dict(template), "intervals": list(intervals)}
    if name is not None:
        body["name"] = name
    if max_attempts is not None:
        body["max_attempts"] = max_attempts
    return body


class DaemonClient:
    """Blocking calls to one daemon (`base_url`, e.g. `http://127.0.0.1:8642`)."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout_s: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers=_headers(self._token, body=method == "POST"),
        )
        if method == "POST" and data is None:
            request.data = b"{}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise _failure(method, path, exc.code, exc.read().decode(errors="replace")) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DaemonError(f"{method} {path}: cannot reach {self.base_url}: {reason}") from exc

    def submit(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The jobs of one submission, as they are now (submitting again finds the same)."""
        return list(self._call("POST", "/v1/jobs", dict(body))["jobs"])

    def jobs(self, job_ids: Iterable[str]) -> list[dict[str, Any]]:
        return list(self._call("GET", jobs_query(job_ids))["jobs"])

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/v1/jobs/{urllib.parse.quote(job_id)}/cancel")["job"])

    def retry(self, job_id: str, reason: str) -> dict[str, Any]:
        path = f"/v1/jobs/{urllib.parse.quote(job_id)}/retry"
        return dict(self._call("POST", path, {"reason": reason})["job"])


class AsyncDaemonClient:
    """The calls the trigger makes, over one aiohttp session (`async with` owns it)."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout_s: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s
        self._session: Any = None

    async def __aenter__(self) -> AsyncDaemonClient:
        import aiohttp  # here: the operator's side of the provider never needs it

        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._session.close()

    async def _get(self, path: str, *, hold_s: float = 0) -> Any:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self.timeout_s + hold_s)
        try:
            async with self._session.get(
                self.base_url + path, headers=_headers(self._token, body=False), timeout=timeout
            ) as answer:
                text = await answer.text()
                if answer.status >= 400:
                    raise _failure("GET", path, answer.status, text)
                return json.loads(text)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DaemonError(f"GET {path}: cannot reach {self.base_url}: {exc!r}") from exc

    async def jobs(self, job_ids: Iterable[str]) -> list[dict[str, Any]]:
        return list((await self._get(jobs_query(job_ids)))["jobs"])

    async def head(self) -> int:
        """The event log's position now: the feed from here misses no later change."""
        return int((await self._get("/v1/changes?after=0&limit=1"))["head"])

    async def changes(self, after: int, wait_s: float) -> tuple[list[dict[str, Any]], int]:
        """The jobs changed after `after` (held up to `wait_s` while none), and the position
        to ask from next."""
        wait = min(max(wait_s, 0.0), MAX_WAIT_S)
        path = f"/v1/changes?after={after}&limit={MAX_PAGE}&wait={wait:g}"
        found = await self._get(path, hold_s=wait)
        return list(found["jobs"]), int(found["position"])
