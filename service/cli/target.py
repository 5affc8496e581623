"""Where a command acts (a daemon's API, or embedded on a local log), its errors as one line and
an exit code, and the jobs its names name (`service.cli.handles`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any, TextIO

import msgspec
import structlog

from actors.errors import ORCHESTRATOR_ERRORS, ConfigError, NotRetryableError, UnknownJobError
from actors.job.audit import AuditError
from actors.job.state import PHASES
from actors.job.view import JobView
from actors.supervision.alerts import Alert, AlertSink, FanOutAlertSink, LogAlertSink
from service import logging_setup
from service.cli.handles import AmbiguousJobError, resolve
from service.cli.local_status import local_by_ids, local_views
from service.config import Config, load_config
from service.control import Control, ControlError, RemoteControl, embedded, remote
from specs.errors import SpecError

logger = structlog.get_logger(__name__)


def run_loop(coro: Any) -> int:
    from service.cli.main import _run as run

    return run(coro)


def phases_arg(text: str) -> frozenset[str]:
    """`--phase P,Q`, checked: a misspelt phase would otherwise match no job, silently."""
    phases = frozenset(p.strip() for p in text.split(",") if p.strip())
    unknown = sorted(phases - set(PHASES))
    if unknown or not phases:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {', '.join(map(repr, unknown or [text]))} "
            f"(choose from {', '.join(map(repr, PHASES))})"
        )
    return phases


def add_target(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where (a daemon, or embedded on a local log)")
    g.add_argument("--api", default=os.environ.get("DRUID_ORCH_API_URL"), help="daemon URL")
    g.add_argument("--token-file", help="bearer token for --api (or DRUID_ORCH_API_TOKEN)")
    g.add_argument("--config", default=os.environ.get("DRUID_ORCH_CONFIG"), help="orch.toml")
    g.add_argument("--db", help="event log file (embedded)")
    g.add_argument("--overlord", help="Overlord URL (embedded)")
    g.add_argument("--overlord-user", help="basic-auth user")
    g.add_argument("--overlord-password-file", help="file holding the basic-auth password")
    g.add_argument("--overlord-token-file", help="file holding a bearer token for Druid")
    g.add_argument("--ca-bundle", help="CA certificates for the Overlord's TLS")
    g.add_argument("--no-verify-tls", action="store_true", help="do not check TLS certificates")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def config_of(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {
        "eventlog.db": args.db,
        "overlord.url": args.overlord,
        "overlord.user": args.overlord_user,
        "overlord.password_file": args.overlord_password_file,
        "overlord.token_file": args.overlord_token_file,
        "overlord.ca_bundle": args.ca_bundle,
        "overlord.verify_tls": False if args.no_verify_tls else None,
        "api.enabled": False,
    }
    return load_config(args.config, env=os.environ, overrides=overrides)


def api_token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        try:
            with open(args.token_file) as f:
                return f.read().strip()
        except OSError as exc:
            raise ConfigError(
                f"--token-file: cannot read {args.token_file}: {exc.strerror}"
            ) from exc
    return os.environ.get("DRUID_ORCH_API_TOKEN")


def api_url(args: argparse.Namespace) -> str:
    """`--api`, with `http://` assumed for `host:port` (what people type first)."""
    url: str = args.api
    return url if "://" in url else f"http://{url}"


@contextlib.asynccontextmanager
async def control_of(args: argparse.Namespace) -> AsyncIterator[Control]:
    if args.api:
        async with remote(api_url(args), api_token(args)) as client:
            yield client
        return
    if args.db is None and args.config is None:
        raise ConfigError("say where: --api URL (a running daemon) or --db PATH --overlord URL")
    config = config_of(args)
    note = sys.stderr if getattr(args, "json", False) else sys.stdout
    async with embedded(config, alerts=cli_alerts(config, note)) as control:
        yield control


class OneLineAlerts(LogAlertSink):
    """An alert as a person at the terminal reads it: one line, above the progress bar
    (which the next redraw puts back), naming the job and what to do; the whole record
    (report excerpt and all) goes to the log at info level (`--log-level info`)."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out = out

    def raise_alert(self, alert: Alert) -> None:
        self.sent.append(alert)
        logger.info("job_alert", **msgspec.structs.asdict(alert))
        day = alert.interval.split("T", 1)[0]
        handle = f"{alert.datasource}/{day}"
        line = (
            f"ALERT {handle}: {alert.classification} failure, rule {alert.rule}: not "
            f"retried (once fixed: druid-orch retry {handle})"
        )
        if self.out.isatty():  # above the bar, and no wider than the terminal
            line = "\r\x1b[K" + line[: _room()]
        self.out.write(line + "\n")
        self.out.flush()


def _room() -> int:
    import shutil

    return max(40, shutil.get_terminal_size((80, 24)).columns)


def cli_alerts(config: Config, out: TextIO) -> AlertSink:
    """One line on the terminal, and the configured webhook, if any, as the daemon has."""
    printed = OneLineAlerts(out)
    if config.alerts.webhook_url is None:
        return printed
    from service.daemon import alert_sink

    webhook = alert_sink(config)
    return FanOutAlertSink(printed, webhook)


def local_db(args: argparse.Namespace) -> str:
    if args.db is None and args.config is None:
        raise ConfigError("say where: --api URL (a running daemon) or --db PATH --overlord URL")
    return str(args.db or log_location(config_of(args).eventlog))


def log_location(section: Any) -> str:
    """Where the configured log is: a PostgreSQL URL (docs/ha.md) or the SQLite file."""
    return str(section.url or section.db)


async def job_ids(
    args: argparse.Namespace, names: Sequence[str], control: Control | None = None
) -> list[str]:
    """The ids of the jobs `names` name (full ids, handles, `datasource/date`, prefixes).

    Embedded, the log is read on its own (read-only, before the orchestrator opens it).
    """
    if not names:
        return []
    if isinstance(control, RemoteControl):
        client = control

        async def find(datasource: str | None, interval: str | None) -> list[JobView]:
            return await client.views(None, datasource=datasource, interval=interval)

        async def by_id(ids: Sequence[str]) -> list[JobView]:
            return await client.views(ids)

        return await resolve(names, find, by_id)
    db = local_db(args)

    async def local_find(datasource: str | None, interval: str | None) -> list[JobView]:
        return local_views(db, [], (), datasource, interval)

    async def local_ids(ids: Sequence[str]) -> list[JobView]:
        return local_by_ids(db, ids)

    return await resolve(names, local_find, local_ids)


def guarded(args: argparse.Namespace, body: Any) -> int:
    """Run a command body with every expected error turned into a message and exit code."""
    # A person reads these commands' logs: console lines, never JSON (the daemon logs JSON).
    logging_setup.configure(args.log_level, fmt="console")
    try:
        try:
            return run_loop(body)
        except BaseExceptionGroup as group:
            # The orchestrator's task group wraps what our code raised inside it.
            raise single(group) from None
    except (ConfigError, SpecError) as exc:
        return fail(f"{exc}", 2)
    except (
        ControlError,
        UnknownJobError,
        AmbiguousJobError,
        NotRetryableError,
        AuditError,
    ) as exc:
        return fail(str(exc), 1)
    except ORCHESTRATOR_ERRORS as exc:
        return fail(described(exc), 1)


def described(exc: BaseException) -> str:
    """The error as a sentence: its message, not the Python class it was raised as."""
    return str(exc) or type(exc).__name__


def single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error inside nested groups, or the group itself when there are several."""
    leaves = _leaves(group)
    return leaves[0] if len(leaves) == 1 else group


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def fail(message: str, code: int) -> int:
    print(f"druid-orch: error: {message}", file=sys.stderr)
    return code


def where(args: argparse.Namespace) -> str:
    """The options that point a later command at the same place (for "run ... to follow")."""
    if args.api:
        return f"--api {args.api}"
    parts = [f"--db {args.db}"] if args.db else []
    if args.overlord:
        parts.append(f"--overlord {args.overlord}")
    if args.config:
        parts.append(f"--config {args.config}")
    return " ".join(parts)


def check_text(dump: dict[str, Any], prefix: str = "") -> str:
    """`run --check` on a terminal: one `key = value` line a setting (secrets are masked
    in `dump` already), rather than one long JSON line."""
    lines: list[str] = []
    for key, value in dump.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            lines.append(check_text(value, f"{name}."))
        else:
            lines.append(f"{name} = {value!r}")
    return "\n".join(lines)
