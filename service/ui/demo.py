"""`druid-orch demo --ui`: once the demo's jobs have settled, its orchestrator and simulator
stay up behind the control API, so the console shows the demo's jobs, retries and structural
failure, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TextIO

from actors.orchestrator import Orchestrator
from service.api import ControlApi
from service.metrics import Metrics

__all__ = ["keep_serving"]


async def keep_serving(
    orch: Orchestrator, out: TextIO, *, port: int = 0, metrics: Metrics | None = None
) -> None:
    """Serve the control API and its console for `orch` on 127.0.0.1:`port` (0: a free one)
    and print the console's URL; return on SIGINT or SIGTERM. `metrics`: bound to `orch`
    and counting its Overlord client (else only its state is read: no request rates)."""
    if metrics is None:
        metrics = Metrics()
        metrics.bind(orch)
    api = ControlApi(metrics=metrics)
    runner, url = await api.start("127.0.0.1", port)
    api.serve(orch)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        out.write(
            f"\nweb console: {url}/ui/\n"
            "(the orchestrator, its control API and the simulator keep running; Ctrl-C stops)\n"
        )
        out.flush()
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        api.drain()
        await runner.cleanup()
