"""The filters in front of the simulated Overlord's resources, in Druid's order (REFERENCE
§1.1, §1.2): authentication, then the leader redirect; then JAX-RS's content negotiation,
which picks the resource method before Druid's resource filters (and their permission
checks) run.

* No credentials: 401 JSON with `WWW-Authenticate: Basic`. Wrong credentials or an
  undecodable header: 401 Jetty HTML page. These come before the leader redirect.
* Known but not permitted (checked by the resources, so after the redirect): 403
  `{"Access-Check-Result": ...}`, or its text/plain variant on `/tasks?datasource=`; the
  task and supervisor lists are filtered instead (empty), and an unknown id is still 404.
* A standby answers 307 with `Location` = leader + path + query, except for `/leader` and
  `/isLeader`; with no leader known it answers 503 with a Jetty page. `/status/*` is always
  answered locally.
* A request whose `Accept` header excludes what the endpoint produces (`Endpoint.produces`)
  gets 406 Not Acceptable with an empty body (the body is UNCONFIRMED); no `Accept` header,
  or an empty one, accepts anything.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from overlord.endpoints import BY_NAME
from overlord.sim.faults import JETTY_503

if TYPE_CHECKING:
    from overlord.sim.server import Simulator

UNSECURED = ("/status/health", "/status/ready", "/druid/indexer/v1/isLeader", "/sim/")
LOCAL_ROUTES = frozenset({"leader", "is_leader"})
# Lists Druid filters by the caller's READ permission instead of refusing (REFERENCE §1.1).
FILTERED_LISTS = frozenset(
    {"tasks", "waiting_tasks", "pending_tasks", "running_tasks", "complete_tasks", "supervisors"}
)


def jetty_page(status: int, reason: str) -> str:
    return (
        '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
        f"<title>Error {status} {reason}</title>\n</head>\n<body><h2>HTTP ERROR {status} "
        f"{reason}</h2>\n<table>\n<tr><th>URI:</th><td>/druid</td></tr>\n<tr><th>STATUS:</th>"
        f"<td>{status}</td></tr>\n</table>\n</body>\n</html>\n"
    )


def unauthenticated(sim: Simulator, request: web.Request) -> web.Response | None:
    """The 401 answer for this request, or None when its caller is known (or need not be)."""
    config = sim.config
    if not config.users or request.path.startswith(UNSECURED):
        return None
    header = request.headers.get("Authorization")
    if header is None:
        body = {
            "error": "Unauthorized request",
            "errorMessage": None,
            "errorClass": None,
            "host": config.host_name,
        }
        return web.Response(
            body=msgspec.json.encode(body),
            status=401,
            content_type="application/json",
            headers={"WWW-Authenticate": "Basic"},
        )
    user = _basic_user(header, config.users)
    if user is None:
        # Wrong credentials take Jetty's sendError path: an HTML page, not JSON.
        return web.Response(
            text=jetty_page(401, "Unauthorized"), status=401, content_type="text/html"
        )
    return None


def forbidden(sim: Simulator, request: web.Request, route: str) -> web.Response | None:
    """The 403 (or filtered) answer for a known caller without permission, or None.

    Druid checks permissions inside its resources, after the leader redirect: the task and
    supervisor lists are filtered to what the caller may read (here: nothing), and a
    per-task or per-supervisor path looks its resource up first, so an unknown id is 404.
    """
    config = sim.config
    header = request.headers.get("Authorization")
    if not config.forbidden_users or header is None or request.path.startswith(UNSECURED):
        return None
    if _basic_user(header, config.users) not in config.forbidden_users:
        return None
    if route == "tasks" and "datasource" in request.query:
        return web.Response(text="Access-Check-Result: Unauthorized", status=403)
    if route in FILTERED_LISTS:
        return web.json_response([])
    task_id = request.match_info.get("task_id")
    if task_id is not None and task_id not in sim.cluster.tasks:
        return None  # the resource filter's 404 comes first
    sid = request.match_info.get("supervisor_id")
    if sid is not None and sid not in sim.supervisors.supervisors:
        return None
    return web.Response(
        body=b'{"Access-Check-Result":"Unauthorized"}',
        status=403,
        content_type="application/json",
    )


def role_reply(sim: Simulator, request: web.Request, route: str) -> web.Response | None:
    """A standby's 307 or a leaderless node's 503, or None when this node answers itself."""
    if not request.path.startswith("/druid/") or route in LOCAL_ROUTES:
        return None
    if sim.fault_state.leaderless():
        sim.fault_state.injected["no_leader_503"] += 1
        return web.Response(text=JETTY_503, status=503, content_type="text/html")
    if sim.leader_url is None:
        return None
    target = sim.leader_url.rstrip("/") + request.rel_url.raw_path
    if request.query_string:
        target += "?" + request.query_string
    return web.Response(status=307, headers={"Location": target})


def _basic_user(header: str, users: dict[str, str]) -> str | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return user if users.get(user) == password else None


def not_acceptable(request: web.Request, route: str) -> web.Response | None:
    """406 when the request's `Accept` excludes what the route's endpoint produces."""
    endpoint = BY_NAME.get(route)
    header = request.headers.get("Accept", "").strip()
    if endpoint is None or not header or accepts(header, endpoint.produces):
        return None
    return web.Response(status=406)


def accepts(header: str, media_type: str) -> bool:
    """Whether an `Accept` header admits `media_type` (RFC 9110 §12.5.1): the most specific
    matching range decides, and its `q=0` refuses (`*/*, text/plain;q=0` excludes text)."""
    kind = media_type.partition("/")[0]
    specificity = {media_type: 2, f"{kind}/*": 1, "*/*": 0}
    best: tuple[int, float] | None = None
    for item in header.split(","):
        media_range, _, params = item.partition(";")
        rank = specificity.get(media_range.strip().lower())
        if rank is not None and (best is None or rank > best[0]):
            best = (rank, _quality(params))
    return best is not None and best[1] > 0


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0  # an unreadable weight: do not guess that it accepts
    return 1.0
