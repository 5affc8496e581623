"""The layout of docs/architecture.md, kept by tests: one test per rule.

The rules are read from the source itself (each module's AST, the files on disk), or from a
fresh interpreter for what an import loads, so no test depends on what an earlier test
happened to import.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("actors", "eventlog", "overlord", "service", "specs", "airflow_druid_orch")
ROOMS = PACKAGES[:5]

# What each package may not import. `service` may import everything; `overlord.sim` importing
# `overlord` is an import within one package, which no rule here restricts.
FORBIDDEN_IMPORTS: dict[str, frozenset[str]] = {
    "eventlog": frozenset({"overlord", "specs", "actors", "service"}),
    "overlord": frozenset({"eventlog", "specs", "actors", "service"}),
    "specs": frozenset({"eventlog", "overlord", "actors", "service"}),
    "actors": frozenset({"service"}),
    # The Airflow provider speaks HTTP to a daemon anywhere: it needs none of the rooms.
    "airflow_druid_orch": frozenset(ROOMS),
}

MAX_MODULES_PER_FOLDER = 16
MAX_MODULE_LINES = 450
# Known exceptions, each waiting for its split. The tests fail when an entry is no longer over
# its limit, so an exception cannot outlive the split that made it unnecessary.
FOLDERS_OVER_LIMIT: frozenset[str] = frozenset()
MODULES_OVER_LIMIT: frozenset[str] = frozenset()
# Source that ships or that users copy; tests/ and bench/ are held to no size.
SIZED_ROOTS = (*PACKAGES, "examples")

# Statements of SQLite's dialect, not the words alone: "update" and "select" are English, and
# "DELETE" is an HTTP method.
SQL = re.compile(
    r"\b(select\b[\s\S]+\bfrom|insert\s+(or\s+\w+\s+)?into|update\s+\w+\s+set|delete\s+from"
    r"|(create|drop|alter)\s+(table|index|view|trigger)|pragma\s+\w+"
    r"|begin\s+(immediate|exclusive|deferred|transaction))\b",
    re.IGNORECASE,
)


def modules(*roots: str) -> Iterator[Path]:
    for root in roots:
        yield from sorted((ROOT / root).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code (`TYPE_CHECKING` blocks too).

    `from a import b` counts as importing both `a` and `a.b`, since `b` may be a module.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def string_literals(path: Path) -> Iterator[tuple[int, str]]:
    """The string constants of `path` with their lines, docstrings left out: they are prose."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in docstrings:
            continue
        if isinstance(node.value, str):
            yield node.lineno, node.value


def loaded_by(statement: str) -> set[str]:
    """The modules in `sys.modules` after `statement` runs in a fresh interpreter."""
    code = f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_a_package_imports_nothing_from_the_rooms_that_depend_on_it_or_beside_it(
    package: str,
) -> None:
    forbidden = FORBIDDEN_IMPORTS[package]
    offenders = sorted(
        f"{relative(path)} imports {name}"
        for path in modules(package)
        for name in imported_modules(path)
        if name.split(".")[0] in forbidden
    )
    assert not offenders, f"{package} may not import {sorted(forbidden)}:\n" + "\n".join(offenders)


def test_the_overlord_client_imports_nothing_of_the_simulator() -> None:
    offenders = sorted(
        f"{relative(path)} imports {name}"
        for path in modules("overlord")
        if not relative(path).startswith("overlord/sim/")
        for name in imported_modules(path)
        if name == "overlord.sim" or name.startswith("overlord.sim.")
    )
    assert not offenders, "\n".join(offenders)


def test_importing_overlord_loads_the_client_without_the_simulator_or_aiohttp_web() -> None:
    loaded = loaded_by("import overlord")
    assert "overlord.client" in loaded, "the probe did not import the client at all"
    unwanted = sorted(
        name
        for name in loaded
        if name == "overlord.sim" or name.startswith(("overlord.sim.", "aiohttp.web"))
    )
    assert not unwanted, f"import overlord loaded {unwanted}"


def test_importing_the_job_fsm_loads_no_orchestrator() -> None:
    loaded = loaded_by("import actors.job.fsm")
    assert "actors.job.fsm" in loaded, "the probe did not import the FSM at all"
    ours = sorted(name for name in loaded if name.startswith("actors."))
    assert "actors.orchestrator" not in loaded, f"import actors.job.fsm loaded {ours}"


def test_no_module_outside_eventlog_imports_sqlite3_or_holds_sql() -> None:
    offenders: list[str] = []
    for path in modules(*(p for p in PACKAGES if p != "eventlog")):
        if any(name.split(".")[0] == "sqlite3" for name in imported_modules(path)):
            offenders.append(f"{relative(path)} imports sqlite3")
        offenders.extend(
            f"{relative(path)}:{line} holds SQL {match.group(0)!r}"
            for line, text in string_literals(path)
            if (match := SQL.search(text))
        )
    assert not offenders, "\n".join(offenders)


def test_the_sql_probe_recognises_sqlite_statements_and_not_prose() -> None:
    statements = [
        "SELECT seq, body FROM events WHERE stream_id = ?",
        "insert or ignore into streams (stream_id) values (?)",
        "UPDATE streams SET closed = 1",
        "DELETE FROM events WHERE seq <= ?",
        "CREATE TABLE events (seq INTEGER PRIMARY KEY)",
        "PRAGMA journal_mode=WAL",
        "BEGIN IMMEDIATE",
    ]
    prose = ["DELETE", "select a template", "update the job", "the log was created"]
    assert [s for s in statements if not SQL.search(s)] == []
    assert [p for p in prose if SQL.search(p)] == []


def test_no_folder_holds_more_modules_than_a_reader_can_take_in_at_a_glance() -> None:
    counts = {
        relative(folder): sum(1 for f in folder.glob("*.py") if f.name != "__init__.py")
        for package in PACKAGES
        for folder in [ROOT / package, *(ROOT / package).rglob("*")]
        if (folder / "__init__.py").is_file()
    }
    over = {folder for folder, count in counts.items() if count > MAX_MODULES_PER_FOLDER}
    assert over - FOLDERS_OVER_LIMIT == set(), {f: counts[f] for f in over}
    assert FOLDERS_OVER_LIMIT - over == set(), "no longer over the limit: empty the allowance"


def test_no_module_outside_tests_and_bench_runs_longer_than_the_limit() -> None:
    lengths = {relative(path): len(path.read_text().splitlines()) for path in modules(*SIZED_ROOTS)}
    over = {module for module, lines in lengths.items() if lines > MAX_MODULE_LINES}
    assert over - MODULES_OVER_LIMIT == set(), {m: lengths[m] for m in over}
    assert MODULES_OVER_LIMIT - over == set(), "no longer over the limit: empty the allowance"


def test_no_room_imports_airflow_or_its_provider() -> None:
    offenders = sorted(
        f"{relative(path)} imports {name}"
        for path in modules(*ROOMS)
        for name in imported_modules(path)
        if name.split(".")[0] in ("airflow", "airflow_druid_orch")
    )
    assert offenders == []


def test_importing_the_airflow_provider_loads_nothing_of_airflow() -> None:
    loaded = loaded_by("import airflow_druid_orch, airflow_druid_orch.client")
    assert {m for m in loaded if m.split(".")[0] == "airflow"} == set()
