"""A venv with Apache Airflow, of its own (never the project's), built on first use and kept
in `~/.cache/druid-orch/` for later runs, plus a migrated Airflow database to copy per test.

Its name carries a hash of `airflow-constraints.txt`, so changing the pins builds a new one.
An exclusive lock makes one pytest-xdist worker build it while the other waits. The migrated
database is moved in last and marks the venv finished: a build interrupted half-way is
thrown away and done again by the next run.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CONSTRAINTS = HERE / "airflow-constraints.txt"
AIRFLOW_VERSION = "2.10.5"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "druid-orch"
TEMPLATE_DB = "airflow-template.db"


def venv_dir() -> Path:
    digest = hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()[:10]
    return CACHE / f"airflow-venv-{AIRFLOW_VERSION}-{digest}"


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an Airflow process whose home (and SQLite database) is `home`;
    the provider is imported from this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DRUID_ORCH_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def ensure_venv() -> Path:
    """The venv's directory, built (and its template database migrated) if missing."""
    final = venv_dir()
    if (final / TEMPLATE_DB).exists():
        return final
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "airflow-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits here, then finds it built
        if (final / TEMPLATE_DB).exists():
            return final
        started = time.monotonic()
        building = final.with_name(final.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        # A venv records its own path in its scripts: it is built where it will live.
        shutil.rmtree(final, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(final)], check=True)
        python = str(final / "bin" / "python")
        # The constraints file is a complete freeze: installing it without resolving is
        # several times faster than letting pip resolve Airflow's tree, and `pip check`
        # proves nothing is missing.
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(CONSTRAINTS)],
            check=True,
        )
        subprocess.run([python, "-m", "pip", "check"], check=True, stdout=subprocess.DEVNULL)
        building.mkdir(parents=True)
        env = airflow_env(building)
        subprocess.run(
            [str(final / "bin" / "airflow"), "db", "migrate"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        (building / "airflow.db").rename(final / TEMPLATE_DB)
        shutil.rmtree(building, ignore_errors=True)
        (final / "build-seconds").write_text(f"{time.monotonic() - started:.1f}\n")
        return final


def new_home(venv: Path, home: Path) -> Path:
    """An Airflow home at `home` with a copy of the migrated database and a dags folder."""
    (home / "dags").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(venv / TEMPLATE_DB, home / "airflow.db")
    return home


if __name__ == "__main__":
    print(ensure_venv())
