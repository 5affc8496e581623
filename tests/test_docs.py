"""The documentation names files that exist: a page that points at a moved module misleads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# A path in backticks: a folder of the repository, then at least one more part.
PATH = re.compile(
    r"`((?:actors|eventlog|overlord|service|specs|tests|bench|docs|examples)/[\w./-]*)`"
)


def named_paths(text: str) -> list[str]:
    return sorted({m.group(1).rstrip("/.") for m in PATH.finditer(text)})


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_path_a_page_names_exists(page: Path) -> None:
    paths = named_paths(page.read_text())
    missing = [p for p in paths if "<" not in p and "*" not in p and not (ROOT / p).exists()]
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


def test_the_path_probe_finds_paths_in_backticks_and_nothing_else() -> None:
    text = "see `actors/job/fsm.py`, `specs/druid/`, `tests/`; not actors/job/x.py nor `/etc/x`"
    assert named_paths(text) == ["actors/job/fsm.py", "specs/druid", "tests"]
