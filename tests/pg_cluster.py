"""A private PostgreSQL cluster from the installed server binaries: its own data dir and port.

For a machine where no PostgreSQL answers (a laptop), the suite starts one of these itself
(tests/pg_support.py), and the server-restart failover test runs on one, since the shared
server must never be restarted under other engineers' tests. initdb refuses to run as root,
so as root every server command runs as `nobody` (runuser), who owns the data dir.

The cluster trades durability for speed (fsync off): it lives for one test run, and the
restart test stops it with `-m fast`, a clean shutdown that flushes everything committed.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from pathlib import Path

RUN_AS = "nobody"


def binaries() -> Path | None:
    """The folder of `initdb`/`pg_ctl`: on PATH, from pg_config, or Debian's layout; newest."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for folder in reversed(candidates):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateCluster:
    """One cluster under `root` (created if need be), listening on 127.0.0.1:`port`."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        found = binaries()
        if found is None:
            raise RuntimeError(
                "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql"
            )
        self.bin = found
        self.root = root
        self.data = root / "data"
        self.port = port if port is not None else free_port()

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", RUN_AS, "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()[-800:]}"
            )

    def init(self) -> PrivateCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # The server's user must reach its data dir; nobody else needs to.
            import pwd

            user = pwd.getpwnam(RUN_AS)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.root.chmod(0o700)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        return self

    def start(self) -> PrivateCluster:
        options = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories='{self.root}' -c fsync=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection cut, the server down and up again."""
        pg_ctl = str(self.bin / "pg_ctl")
        log = str(self.root / "server.log")  # else the server holds our stdout pipe open
        self._run(pg_ctl, "-D", str(self.data), "-l", log, "-m", "fast", "-w", "restart")

    def stop(self, mode: str = "immediate") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
