"""Each package declares what it exports, and every name it declares exists (as httpx does)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("actors", "eventlog", "overlord", "service", "specs")


def exporting_packages() -> list[str]:
    """Every package of the five rooms whose `__init__` holds code, hence something to export.

    An empty `__init__` only marks a folder of modules, which are imported by their own names.
    """
    inits = (init for room in ROOMS for init in sorted((ROOT / room).rglob("__init__.py")))
    return [
        ".".join(init.parent.relative_to(ROOT).parts) for init in inits if init.read_text().strip()
    ]


def test_every_room_and_the_simulator_are_among_the_exporting_packages() -> None:
    assert {*ROOMS, "overlord.sim"} <= set(exporting_packages())


@pytest.mark.parametrize("package", exporting_packages())
def test_every_name_in_all_is_importable_and_sorted(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{package}/__init__.py declares no __all__"
    assert exported == sorted(exported), f"{package}.__all__ is not sorted"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names missing attributes: {missing}"
