"""Rewrite generated blocks of bench/RESULTS.md, leaving everything else as it is.

A generated block sits between `<!-- BEGIN name -->` and `<!-- END name -->`. Several people
write the file (the event-log section is another benchmark's), so a writer only ever replaces
its own blocks; prose and other sections survive every rewrite.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# A run from a snapshot of HEAD (`lifecycle_load --snapshot`) still writes the working tree's
# file, and names the snapshot's commit, through these two variables.
RESULTS = Path(os.environ.get("DRUID_BENCH_RESULTS") or Path(__file__).with_name("RESULTS.md"))
COMMIT_ENV = "DRUID_BENCH_COMMIT"
LIFECYCLE_END = "<!-- END lifecycle -->"

_LIFECYCLE_SECTION = f"""## Lifecycle: the orchestrator against DruidHook-style polling

{LIFECYCLE_END}
"""
_SKELETON = f"""# Benchmark results

<!-- BEGIN header -->
<!-- END header -->

{_LIFECYCLE_SECTION}"""


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"


def replace_block(text: str, name: str, body: str, *, before: str = LIFECYCLE_END) -> str:
    """`text` with block `name` holding `body`; a new block goes just before `before`."""
    begin, end = _markers(name)
    block = f"{begin}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _m: block, text, count=1)
    if before in text:
        return text.replace(before, f"{block}\n\n{before}", 1)
    return text.rstrip() + f"\n\n{block}\n"


def update(name: str, body: str, path: Path | None = None) -> None:
    """Write block `name` into the results file, creating what is missing around it."""
    path = path or RESULTS
    text = path.read_text() if path.exists() else _SKELETON
    if name == "header":
        begin, end = _markers(name)
        if begin not in text:
            title, _, rest = text.partition("\n")
            text = f"{title}\n\n{begin}\n{end}\n{rest}"
    elif LIFECYCLE_END not in text:
        text = text.rstrip() + "\n\n" + _LIFECYCLE_SECTION
    path.write_text(replace_block(text, name, body))


def machine() -> dict[str, str]:
    """Where and with what a figure was measured."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{kb / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        memory = "unknown"
    import sqlite3

    versions = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for dist in ("aiohttp", "msgspec", "prometheus-client", "uvloop", "requests", "structlog"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "absent"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "commit": git_commit(),
        "python_executable": sys.executable,
    }


def git_commit() -> str:
    """HEAD, plus how many tracked files differ from it (others edit this tree live)."""
    if os.environ.get(COMMIT_ENV):
        return os.environ[COMMIT_ENV]
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} (+{len(dirty)} modified tracked files)" if dirty else head
