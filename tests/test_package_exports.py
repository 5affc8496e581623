"""Each package declares what it exports, and every name it declares exists (as httpx does)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["actors", "eventlog", "specs", "overlord"])
def test_every_name_in_all_is_importable_and_sorted(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    assert exported == sorted(exported), f"{package}.__all__ is not sorted"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names missing attributes: {missing}"
