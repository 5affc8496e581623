"""The phase diagram in the FSM's docstring is the table of allowed transitions, drawn."""

from __future__ import annotations

import itertools
import re

from actors.job import fsm
from actors.job.state import ALLOWED_TRANSITIONS

ARROW = "->"


def drawn_edges(doc: str) -> set[tuple[str, str]]:
    """The edges of the indented block after the "Phases" line: `a | b -> c -> d` draws
    a->c, b->c and c->d; a parenthesised note at the end of a line is not part of it."""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Phases"))
    edges: set[tuple[str, str]] = set()
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):
            break
        drawing = re.sub(r"\s*\(.*\)\s*$", "", line).strip()
        if not drawing:
            continue
        groups = [[p.strip() for p in part.split("|")] for part in drawing.split(ARROW)]
        assert len(groups) >= 2, f"a line with no arrow: {line!r}"
        for sources, targets in itertools.pairwise(groups):
            edges |= {(a, b) for a in sources for b in targets}
    return edges


def test_every_drawn_edge_is_allowed_and_every_allowed_edge_is_drawn() -> None:
    assert fsm.__doc__ is not None
    drawn = drawn_edges(fsm.__doc__)
    assert drawn - ALLOWED_TRANSITIONS == set(), "drawn but not allowed"
    assert ALLOWED_TRANSITIONS - drawn == set(), "allowed but not drawn"


def test_the_diagram_reader_sees_chains_groups_and_notes() -> None:
    doc = "Phases:\n\n    a | b -> c -> d   (a note -> x)\n\nafter\n    e -> f\n"
    assert drawn_edges(doc) == {("a", "c"), ("b", "c"), ("c", "d")}
