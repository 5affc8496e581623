"""How the control API answers an exception a route lets through: each error of the rooms
below mapped to its status, in one place, and anything unexpected to a 500 whose `error_id`
is also on the log line that carries its traceback."""

from __future__ import annotations

import secrets
import traceback

import structlog
from aiohttp import web

from actors.errors import ActorStoppedError, NotRetryableError, UnknownJobError
from eventlog.errors import (
    EventLogClosedError,
    EventLogUnavailableError,
    StreamArchivedError,
    SummariesNotBuiltError,
    WriterLostError,
)
from eventlog.summaries import CursorError
from overlord.errors import OverlordError, OverlordUnavailableError
from service.http.responses import Handler, error_response, json_response
from service.job_queries import BadQueryError
from service.limits import BoundExceededError
from specs.errors import SpecError

__all__ = ["UnavailableError", "answer_errors"]

logger = structlog.get_logger("druid_orch.api")


class UnavailableError(Exception):
    """Raised by a handler that cannot serve now (booting, draining): answered with 503."""


@web.middleware
async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return error_response(exc.status, exc.reason)
        raise
    except UnavailableError as exc:
        return error_response(503, str(exc))
    except BoundExceededError as exc:
        return error_response(exc.status, str(exc))
    except UnknownJobError as exc:
        return error_response(404, str(exc))
    except (NotRetryableError, StreamArchivedError) as exc:
        return error_response(409, str(exc))
    except SpecError as exc:
        return error_response(400, str(exc))
    except OverlordUnavailableError as exc:
        return error_response(503, f"the Overlord is unavailable: {exc}")
    except (BadQueryError, CursorError) as exc:
        return error_response(400, str(exc))
    except SummariesNotBuiltError as exc:
        return error_response(503, str(exc))
    except EventLogUnavailableError as exc:
        return error_response(503, f"nothing was recorded: {exc}")
    except EventLogClosedError:  # a long poll still waiting when shutdown closed the log
        return error_response(503, "shutting down: the event log is closed")
    except WriterLostError as exc:  # retryable: a repeat finds what was committed
        return error_response(503, f"the event log's writer was lost; send it again: {exc}")
    except ActorStoppedError as exc:  # a job's actor kept crashing: try again later
        return error_response(503, str(exc))
    except OverlordError as exc:
        return error_response(502, f"the Overlord refused: {exc}")
    except Exception as exc:
        # The answer names no detail (it could quote a spec); the id finds the log line.
        error_id = secrets.token_hex(8)
        logger.error(
            "api_internal_error",
            error_id=error_id,
            method=request.method,
            path=request.path,
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)),
        )
        return json_response({"error": "internal error", "error_id": error_id}, 500)
