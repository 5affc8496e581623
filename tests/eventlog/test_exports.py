"""The package's lazily loaded names, and the writer process's small import footprint."""

from __future__ import annotations

import subprocess
import sys

import eventlog


def test_every_exported_name_resolves_to_the_object_in_its_module() -> None:
    for name in eventlog.__all__:
        value = getattr(eventlog, name)
        module = sys.modules[f"eventlog.{eventlog._HOMES[name]}"]
        assert value is getattr(module, name)


def test_the_writer_process_does_not_import_the_loop_side() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, eventlog.sqlite.writer_process; print(' '.join(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "eventlog.sqlite.writer" in loaded
    for heavy in (
        "eventlog.sqlite.store",
        "eventlog.sqlite.verify",
        "eventlog.replay",
        "asyncio",
        "structlog",
    ):
        assert heavy not in loaded, f"{heavy} slows every writer's start"
