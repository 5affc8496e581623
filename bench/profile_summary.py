"""Summarise a py-spy profile (`py-spy record --format raw`, collapsed stacks) as markdown.

    python -m bench.profile_summary PROFILE.txt [--top 15]

py-spy samples only threads that are active (without `--idle`): running, or inside a system call
it does not count as idle, such as the `fsync` of a SQLite commit, so shares are of active
time, mostly but not only CPU. Three views:

* by owner: the innermost frame from this repository (actors/, eventlog/, overlord/,
  specs/, bench/) that each sample ran under, by module; samples with none of ours fall to
  the innermost library (aiohttp, msgspec, asyncio, ...) or "interpreter";
* inclusive: our functions by the share of samples that have them anywhere on the stack;
* self: the innermost Python function of each sample, wherever it lives.

Two library entries need reading: `runners` is uvloop's C code under `Runner.run` (socket
I/O, timers, callbacks with no Python frame of their own); `thread` is C code run by an
executor thread (the event log's SQLite calls run on executor threads).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")
OURS = ("actors", "eventlog", "overlord", "specs", "bench")


def parse(text: str) -> list[tuple[list[tuple[str, str]], int]]:
    """(frames outermost first as (function, file), samples) per collapsed stack line."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for raw in stack.split(";"):
            m = _FRAME.match(raw.strip())
            if m is None:
                frames.append((raw.strip(), ""))
            else:
                frames.append((m["func"], m["file"]))
        stacks.append((frames, int(count)))
    return stacks


# Harness frames that only wrap the event loop: CPU "under" them is the loop's own.
_SCAFFOLDING = {"main", "<module>"}
_STARTUP = {"_find_and_load", "Workload.compiled"}


def own_module(path: str) -> str | None:
    parts = Path(path).parts
    for i, part in enumerate(parts[:-1]):
        if part in OURS and "site-packages" not in parts[:i]:
            return "/".join(parts[i:])
    return None


def library(path: str) -> str:
    parts = Path(path).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    if path.startswith("<"):
        return "interpreter"
    name = Path(path).parent.name if Path(path).name == "__init__.py" else Path(path).stem
    return name or "interpreter"


def summarise(stacks: list[tuple[list[tuple[str, str]], int]], top: int = 15) -> str:
    total = sum(n for _, n in stacks)
    if not total:
        return "(no samples)\n"
    owner: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    for frames, n in stacks:
        code = [(f, p) for f, p in frames if p]
        ours = [(f, own_module(p)) for f, p in code if f not in _SCAFFOLDING]
        innermost = next(((f, m) for f, m in reversed(ours) if m), None)
        if innermost is not None:
            owner[innermost[1] or ""] += n
        elif code:
            owner[f"(library) {library(code[-1][1])}"] += n
        else:
            owner["(no Python frame)"] += n
        for name in {f"{m}:{f}" for f, m in ours if m}:
            inclusive[name] += n
        if code:
            func, path = code[-1]
            where = own_module(path) or library(path)
            leaf[f"{where}:{func}"] += n

    def table(title: str, counts: Counter[str]) -> list[str]:
        rows = [f"| {title} | share of active samples |", "|---|---:|"]
        rows += [f"| `{k}` | {v / total:.1%} |" for k, v in counts.most_common(top)]
        return rows

    startup = sum(
        n
        for frames, n in stacks
        if any(f in _STARTUP or (f == "compiled" and p.endswith("workload.py")) for f, p in frames)
    )
    out = [
        f"{total:,} samples, {startup / total:.1%} of them in start-up (imports, compiling the "
        "specs), before the measured window.",
        "",
        *table("innermost own module (or library)", owner),
        "",
        *table("own function, inclusive", inclusive),
        "",
        *table("innermost Python function (self)", leaf),
    ]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", help="py-spy --format raw output")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    print(summarise(parse(Path(args.profile).read_text()), args.top), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
