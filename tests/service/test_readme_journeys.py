"""The README's journeys run as written: every block marked `<!-- journey -->` is run, in
order, in one shell, from a scratch directory that sees the repository's files, against the
simulator the README starts, on free ports. A step that names a missing file, collides with
an earlier one (a second simulator on the same port), is refused as bad usage (exit 2) or
ends in a traceback fails the test; a step whose documented outcome is exit 1 or 3 (a dead
day, a timeout) does not.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.service.processes import ROOT, clean_env

MARK = "<!-- journey -->"
SIM_PORT, API_PORT = "8090", "8642"
# Exit codes no journey step may end with: bad usage or configuration, a missing command.
REFUSED = {2, 126, 127}


def journey_blocks(readme: str) -> list[str]:
    """The marked blocks' text, in order (the fence after each mark)."""
    blocks = []
    for part in readme.split(MARK)[1:]:
        match = re.match(r"\s*```console\n(.*?)\n```", part, re.S)
        assert match, f"a {MARK} mark not followed by a console block: {part[:80]!r}"
        blocks.append(match.group(1))
    return blocks


def steps(blocks: list[str]) -> list[str]:
    """One command a step (continuation lines joined), as a person types them."""
    joined = "\n".join(blocks).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def script(commands: list[str], sim: int, api: int) -> str:
    """A bash script that runs each step, reports its exit code and output, and waits for
    what a step starts in the background (the simulator, the daemon) to listen."""
    lines = [
        "set -u",
        "wait_port() { for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null"
        " && return 0; sleep 0.05; done; echo 'never listened' >&2; return 1; }",
        "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT",
    ]
    for index, command in enumerate(commands):
        command = command.replace(SIM_PORT, str(sim)).replace(API_PORT, str(api))
        lines.append(f"echo '@@step {index}'")
        lines.append(command)
        lines.append(f'echo "@@exit {index} $? $(date +%s)"')
        if command.endswith("&"):
            port = api if " run " in command else sim
            lines.append(f"wait_port {port}")
            if " run " in command:  # ready: boot reconciliation done
                lines.append(
                    f"for _ in $(seq 1 600); do curl -sf localhost:{api}/readyz >/dev/null"
                    " && break; sleep 0.05; done"
                )
    return "\n".join(lines) + "\n"


def test_the_readme_journey_blocks_are_found_in_order() -> None:
    found = steps(journey_blocks((ROOT / "README.md").read_text()))
    assert found[0].startswith(".venv/bin/druid-orch sim --scenario flaky --port 8090 &")
    assert any(
        s.startswith(".venv/bin/druid-orch run --config examples/orch.toml &") for s in found
    )
    assert sum(s.endswith("&") and " sim " in s for s in found) == 1, "one simulator"


def test_the_readme_journeys_run_as_written(tmp_path: Path) -> None:
    commands = steps(journey_blocks((ROOT / "README.md").read_text()))
    # The repository's files where the README names them, and `.venv/bin/druid-orch` as
    # the code under test (whichever interpreter runs the suite).
    for name in ("specs", "examples", "actors"):
        (tmp_path / name).symlink_to(ROOT / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    launcher = bin_dir / "druid-orch"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m service.cli.main "$@"\n')
    launcher.chmod(0o755)
    sim, api = free_port(), free_port()
    env = clean_env(
        PYTHONPATH=str(ROOT),
        COLUMNS="100",
        # examples/orch.toml names the README's ports; the free ones replace them here.
        DRUID_ORCH_OVERLORD_URL=f"http://127.0.0.1:{sim}",
        DRUID_ORCH_API_PORT=str(api),
    )
    env.pop("NO_COLOR", None)
    done = subprocess.run(
        ["bash", "-c", script(commands, sim, api)],
        cwd=tmp_path,
        env={**env, "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = done.stdout + done.stderr
    codes = {int(i): int(c) for i, c in re.findall(r"@@exit (\d+) (\d+) ", done.stdout)}
    assert len(codes) == len(commands), output[-3000:]
    if os.environ.get("JOURNEY_OUTPUT"):  # to read the journey as a person would
        print(output)
    refused = {commands[i]: c for i, c in codes.items() if c in REFUSED}
    assert not refused, (refused, output[-3000:])
    assert "Traceback" not in output, output[-3000:]
    assert "cannot listen" not in output, output[-3000:]
    assert "No such file" not in output, output[-3000:]
    assert "no job with id" not in output, output[-3000:]
    # What a person sees along the way.
    assert "left in flight" in done.stdout
    assert "drove them too" in done.stdout, "an embedded cancel names the jobs it also drove"
    assert "JOB" in done.stdout
    assert "druid-orch: ready" in done.stdout
    assert '"overlord":' in done.stdout
