"""Files from elsewhere end in one line, never a traceback.

* Files that are not UTF-8 (a spec, a template, a configuration, a secret file) end in one
  line that names the file and the byte where it stops being text, and the bytes themselves
  (perhaps a secret) are never echoed.
* A crafted or foreign event log given to `status --db` or `audit` ends in one line (a
  refusal, or verify's FAILED verdict) and costs bounded memory, whatever its columns hold.
"""

from __future__ import annotations

import contextlib
import sqlite3
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from eventlog.events import StatusObserved
from eventlog.records import ANY_VERSION
from eventlog.sqlite.header import _wal_checksum
from eventlog.sqlite.store import SQLiteEventLog
from tests.service.processes import ROOT, Result, clean_env, cli

BAD = b"\xff\xfe-secret-bytes"


@pytest.mark.parametrize(
    ("name", "body", "args"),
    [
        ("spec.json", b'{"type": "index_parallel", "x": "' + BAD + b'"}', ["submit"]),
        ("pipe.toml", b'[pipeline]\nname = "' + BAD + b'"\n', ["validate"]),
        ("orch.toml", b'[overlord]\nurl = "' + BAD + b'"\n', ["run", "--config"]),
        ("kafka.json", b'{"type": "kafka", "x": "' + BAD + b'"}', ["supervisor", "apply"]),
    ],
)
async def test_a_file_that_is_not_utf8_is_named_with_the_byte_and_nothing_else(
    tmp_path: Path, name: str, body: bytes, args: list[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(body)
    offline = ["--db", str(tmp_path / "x.db"), "--overlord", "http://127.0.0.1:9"]
    extra = offline if args[0] in ("submit", "supervisor") else []
    result = await cli(*args, str(path), *extra)
    output = result.out + result.err
    assert result.code in (1, 2), output
    assert "Traceback" not in output
    assert f"not UTF-8 at byte {body.index(BAD)}" in output
    assert name in output
    assert "secret-bytes" not in output


async def test_a_secret_file_that_is_not_utf8_is_named_without_its_bytes(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_bytes(BAD)
    config = tmp_path / "orch.toml"
    config.write_text(
        f'[overlord]\nurl = "http://127.0.0.1:9"\nuser = "u"\npassword_file = "{secret}"\n'
    )
    result = await cli("run", "--config", str(config))
    output = result.out + result.err
    assert result.code == 2, output
    assert "Traceback" not in output
    assert f"the secret file {secret}: not UTF-8 at byte 0" in output
    assert "secret-bytes" not in output


# --- crafted and foreign logs --------------------------------------------------------------
#
# Each command runs as a process under an address-space cap (so that a regression allocates
# nothing dangerous on a shared machine) and its peak memory is read back with `wait4`: a
# file must not choose how much the reader allocates.

MEMORY_CAP = 4 * 1024**3
PEAK_RSS = 200 * 1024**2  # a CLI run needs ~50 MiB; the crafted values below ask for more
# The command runs as the child of a small launcher, not of the test process: a child forked
# from a pytest worker would report the worker's size as its peak RSS.
LAUNCHER = """
import os, resource, subprocess, sys
cap = int(sys.argv[2])
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
proc = subprocess.Popen(sys.argv[3:], preexec_fn=limit)
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss * 1024))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_capped(*args: str) -> tuple[Result, int]:
    """`druid-orch ARGS` as a process: its result and peak RSS in bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        command = [sys.executable, "-m", "service.cli.main", *args]
        done = subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(peak), str(MEMORY_CAP), *command],
            cwd=ROOT,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
        result = Result(done.returncode, done.stdout.decode(), done.stderr.decode())
        return result, int(peak.read_text())


async def small_log(db: Path) -> None:
    async with SQLiteEventLog(db) as log:
        for n in range(6):
            event = StatusObserved(at=float(n), task_id="t", runner_status=f"RUNNING-{n}")
            await log.append(f"probe:{n % 2}", [event], ANY_VERSION)


def loosened(db: Path) -> None:
    """`STRICT` taken off every table, as in a file crafted elsewhere: type checks on write
    are the writer's, and a file from elsewhere need not have them."""
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute(
            "UPDATE sqlite_master SET sql = replace(replace(sql, ') STRICT, WITHOUT ROWID', "
            "') WITHOUT ROWID'), ') STRICT', ')') WHERE type = 'table'"
        )


def edit(db: Path, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        for statement in statements:
            conn.execute(statement)


def huge_computed_body(db: Path) -> None:
    """The events table rebuilt with a body SQLite computes: 200 MB from a few bytes."""
    edit(
        db,
        "ALTER TABLE events RENAME TO stored",
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, stream_id TEXT, version INTEGER, "
        "type TEXT, recorded_at REAL, hash BLOB, body BLOB GENERATED ALWAYS AS "
        "(zeroblob(200000000)) VIRTUAL)",
        "INSERT INTO events SELECT seq, stream_id, version, type, recorded_at, hash FROM stored",
        "DROP TABLE stored",
    )


def damaged_wal_of_512_mib(db: Path) -> None:
    """A -wal file (sparse, 512 MiB) whose first frame fails its checksum and that holds two
    commits further on: SQLite would drop them, so it must be refused, read frame by frame."""
    page = 65536
    frame = 24 + page
    salts = (7, 9)
    header = struct.pack(">6I", 0x377F0682, 3007000, page, 1, *salts)
    header += struct.pack(">2I", *_wal_checksum(header, 0, 0, "<"))
    frames = (512 * 1024**2 - 32) // frame
    with open(f"{db}-wal", "wb") as f:
        f.write(header)
        for index in (0, frames - 2, frames - 1):
            f.seek(32 + index * frame)
            f.write(struct.pack(">6I", 1, 1 if index else 0, *salts, 0, 0))
        f.truncate(32 + frames * frame)


CRAFTED = {
    "body-an-integer": (
        lambda db: edit(db, "UPDATE events SET body = 5000000000 WHERE seq = 3"),
        [
            (
                ("audit", "verify"),
                1,
                "the event row at seq 3 has a column of the wrong type (body is an integer)",
            ),
            (("audit", "export"), 1, "is a int, not an encoded event at seq 3"),
        ],
    ),
    "body-computed-huge": (
        huge_computed_body,
        [(("status",), 1, "is not a readable event log: string or blob too big")],
    ),
    "checkpoint-of-wrong-types": (
        lambda db: edit(
            db, "INSERT INTO checkpoints VALUES (0, 5000000000, 7, 'x', 1.0, 'a', 5, 6)"
        ),
        [(("audit", "verify"), 1, "a checkpoint row has a column of the wrong type (first_seq")],
    ),
    "summary-of-wrong-types": (
        lambda db: edit(
            db,
            "INSERT INTO job_summaries VALUES ('j', 'job:j', x'00', 'a', 'b', 'failed', 'x', "
            "1.0, 5000000000)",
        ),
        [(("status",), 1, "the summary row of job j cannot be decoded")],
    ),
    "summaries-missing": (
        lambda db: edit(db, "DROP TABLE job_summaries"),
        [
            (("status",), 1, "cannot be read as an event log: no such table: job_summaries"),
            (("audit", "verify"), 1, "FAILED (summaries)"),
        ],
    ),
    "not-sqlite": (
        lambda db: db.write_bytes(b"\x00garbage" * 1000),
        [(("status",), 1, "is not an SQLite database")],
    ),
    "wal-damaged-sparse": (
        damaged_wal_of_512_mib,
        [(("status",), 1, "-wal is damaged at frame 1 (byte 32): SQLite would ignore it")],
    ),
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
async def test_a_crafted_log_ends_in_one_line_and_bounded_memory(tmp_path: Path, name: str) -> None:
    db = tmp_path / "crafted.db"
    await small_log(db)
    craft, runs = CRAFTED[name]
    loosened(db)
    craft(db)
    for command, code, message in runs:
        result, peak = run_capped(*command, "--db", str(db))
        # verify prints its verdict on stdout; every refusal is one line on stderr
        shown = result.out if result.code == 1 and command[-1] == "verify" else result.err
        assert peak < PEAK_RSS, f"{command}: peak RSS {peak >> 20} MiB"
        assert result.code == code, result.out + result.err
        assert "Traceback" not in result.out + result.err
        assert len(shown.strip().splitlines()) == 1, shown
        assert message in shown, shown
