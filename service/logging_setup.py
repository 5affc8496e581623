"""structlog setup: JSON lines by default, human-readable on a terminal.

Configured once per process by the CLI; library users keep whatever they configured.

There is one log stream. Records of the standard library's `logging` (aiohttp's server and
access logs, asyncio's "Task exception was never retrieved", `warnings`) go through the same
processors and renderer as structlog's own events, so a JSON log never holds a plain line
that a log shipper would choke on. Every event passes `redact_event` last before rendering:
a spec, a URL or Druid's error text logged anywhere has its secrets masked.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from types import TracebackType
from typing import Any, TextIO, cast

import msgspec
import structlog

from overlord.redaction import redact, redact_text

_ENC = msgspec.json.Encoder(enc_hook=repr)
_PLAIN = (str, int, float, bool, type(None), dict, list, tuple)


def render_json(_logger: Any, _name: str, event_dict: dict[str, Any]) -> bytes:
    return _ENC.encode(event_dict)  # BytesLogger adds the newline


def _render_json_text(_logger: Any, _name: str, event_dict: dict[str, Any]) -> str:
    return _ENC.encode(event_dict).decode()  # logging.Formatter output is text


def redact_event(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Mask secrets in every field. Objects the renderer would `repr` are turned into text
    here first, so that text is redacted too (an exception's message may quote a URL)."""
    plain = {
        key: value if isinstance(value, _PLAIN) else redact_text(repr(value))
        for key, value in event_dict.items()
    }
    safe: dict[str, Any] = redact(plain)
    return safe


class _Sink:
    """A log stream that drops what it cannot write. A log line must never stop the process
    that writes it: with its stderr's reader gone (a `| tee` that ended, a log shipper
    restarted), the daemon's SIGTERM handler raised BrokenPipeError at its first log line,
    before it began the shutdown, and every later signal did the same: it could not be
    stopped but by SIGKILL."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, data: Any) -> int:
        try:
            return int(self._stream.write(data))
        except (OSError, ValueError):  # ValueError: the stream was closed
            return len(data)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def isatty(self) -> bool:
        try:
            return bool(self._stream.isatty())
        except (OSError, ValueError):
            return False

    @property
    def buffer(self) -> _Sink | None:
        inner = getattr(self._stream, "buffer", None)
        return _Sink(inner) if inner is not None else None


def configure(level: str = "info", *, fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Set up structlog for the process. `fmt` is json, console or auto (console on a TTY)."""
    out: Any = _Sink(stream or sys.stderr)
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    human = fmt == "console" or (fmt == "auto" and out.isatty())
    processors: list[Any] = [structlog.contextvars.merge_contextvars, *_shared()]
    if human:
        renderer: Any = structlog.dev.ConsoleRenderer(colors=False, exception_formatter=_no_exc)
        processors.append(renderer)
        factory: Any = structlog.PrintLoggerFactory(out)
    else:
        renderer = _render_json_text
        processors.append(render_json)
        factory = structlog.BytesLoggerFactory(getattr(out, "buffer", None))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    _route_stdlib(out, numeric, renderer)


def for_commands() -> None:
    """Before a command runs: its stdout is its answer (a table, JSON for `--json`), so the
    rooms' log lines go to stderr, and only warnings and worse (an `info` line of the
    retention pass under `audit compact --json` broke the JSON). Commands that log for a
    living (`run`, `demo`, `sim`) configure again, with their own level."""
    structlog.configure(
        processors=[*_shared(), structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _Sink(sys.stderr))),
        cache_logger_on_first_use=False,
    )


def _no_exc(_sio: TextIO, _exc_info: Any) -> None:
    """`format_exc_info` has already put the traceback in the event, redacted."""


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, so configuring again replaces it instead of adding a second one."""


def _route_stdlib(out: TextIO, level: int, renderer: Any) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = _Handler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def _shared() -> list[Any]:
    return [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks become a string field, so they are redacted and stay one JSON line.
        structlog.processors.format_exc_info,
        redact_event,
    ]


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """A crash's traceback in the same stream and format as everything else."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    logging.getLogger("druid_orch").critical("uncaught_exception", exc_info=(kind, exc, tb))
