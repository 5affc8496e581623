"""structlog setup: JSON lines by default, human-readable on a terminal.

Configured once per process by the CLI; library users keep whatever they configured.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import msgspec
import structlog

_ENC = msgspec.json.Encoder(enc_hook=repr)


def render_json(_logger: Any, _name: str, event_dict: dict[str, Any]) -> bytes:
    return _ENC.encode(event_dict)  # BytesLogger adds the newline


def configure(level: str = "info", *, fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Set up structlog for the process. `fmt` is json, console or auto (console on a TTY)."""
    out = stream or sys.stderr
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    human = fmt == "console" or (fmt == "auto" and out.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if human:
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
        factory: Any = structlog.PrintLoggerFactory(out)
    else:
        processors.append(render_json)
        factory = structlog.BytesLoggerFactory(getattr(out, "buffer", None))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
