"""`druid-orch`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from service import logging_setup


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported OS
        return asyncio.run(coro)
    return uvloop.run(coro)


def cmd_demo(args: argparse.Namespace) -> int:
    from service.demo import run_demo

    logging_setup.configure(args.log_level, fmt="console")
    parts = {"batch": (True, False), "hybrid": (False, True), None: (True, True)}[args.only]
    batch, hybrid = parts
    return _run(
        run_demo(jobs=args.jobs, seed=args.seed, db=args.db, batch=batch, hybrid=hybrid, ui=args.ui)
    )


def cmd_sim(args: argparse.Namespace) -> int:
    from overlord.sim.scenario import ScenarioError, load_scenario
    from overlord.sim.server import SimConfig, Simulator, serve

    logging_setup.configure(args.log_level)
    try:
        config = load_scenario(args.scenario) if args.scenario else SimConfig()
    except ScenarioError as exc:
        print(f"druid-orch: error: {exc}", file=sys.stderr)
        return 2
    if args.seed is not None:
        config.cluster.seed = args.seed

    async def main() -> int:
        sim = Simulator(config)
        try:
            runner = await serve(sim, args.host, args.port)
        except OSError as exc:  # the port is taken, or the host is not ours
            reason = exc.strerror or str(exc)
            print(
                f"druid-orch: error: cannot listen on {args.host}:{args.port}: {reason}",
                file=sys.stderr,
            )
            return 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"Overlord simulator listening on http://{args.host}:{args.port}", flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
        return 0

    return _run(main())


COMMAND_MODULES: tuple[str, ...] = (
    "service.cli.ops",
    "service.cli.audit",
    "service.cli.specs",
    "service.cli.supervisors",
    "service.cli.compact",
    "service.cli.coverage",
    "service.cli.postgres.copying",
)

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo,
    "sim": cmd_sim,
}


class _VersionAction(argparse.Action):
    """Reads the installed version only when asked: importing `importlib.metadata` and reading
    the metadata would add tens of milliseconds to the start of every other command."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        from importlib.metadata import version

        print(f"druid-orch {version('druid-orchestrator')}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="druid-orch", description="Event-sourced orchestrator for Apache Druid ingestion."
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    parser.add_argument("--log-level", default="warning", help="debug, info, warning, error")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the example pipeline against the built-in simulator")
    demo.add_argument("--jobs", type=int, default=24, help="number of daily jobs (default 24)")
    demo.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    demo.add_argument("--db", help="event log file (default: a temporary file)")
    demo.add_argument(
        "--only",
        choices=["batch", "hybrid"],
        help="run one half: the batch backfill, or batch and streaming (default: both)",
    )
    demo.add_argument(
        "--ui",
        action="store_true",
        help="after the batch demo, keep it running with the web console (prints its URL)",
    )

    sim = sub.add_parser("sim", help="run the Overlord simulator until SIGINT/SIGTERM")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8090)
    sim.add_argument("--seed", type=int, default=None)
    sim.add_argument("--scenario", help="TOML scenario file (cluster shape and faults)")

    # Further commands live in one module per area; each adds its subparsers and sets
    # `func` (a callable taking the parsed args and returning the exit code).
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo" and args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.command == "demo" and args.ui and args.only == "hybrid":
        parser.error("--ui shows the batch demo; it cannot go with --only hybrid")
    api = getattr(args, "api", None)
    if api and "://" not in api:  # `--api 127.0.0.1:8642`: what people type first
        args.api = f"http://{api}"
    func = getattr(args, "func", None) or COMMANDS[args.command]
    logging_setup.for_commands()
    with contextlib.suppress(KeyboardInterrupt):
        try:
            return int(func(args))
        except BrokenPipeError:
            # The reader of stdout (`| head`) has gone: end as a program killed by SIGPIPE
            # would, without a traceback, and without a second error when Python flushes.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 128 + signal.SIGPIPE
    return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
