"""How much of the job FSM its own tests pin down: operator mutants, killed or survived.

Each mutant changes one operator in one of the FSM's modules (`and`<->`or`, `>=`<->`>`,
`<=`<->`<`, `==`<->`!=`, a dropped `not`, `in`<->`not in`). The module is rewritten from its
AST with that one change, the FSM's own tests run against it, and the original bytes are put
back in a `finally`. A mutant is killed when the tests fail (or time out). The list of
mutants is the same on every run: sites are ordered by file, line and column.

    python -m bench.mutation_fsm                      # every operator kind
    python -m bench.mutation_fsm --kinds and/or,>=/>,not
    python -m bench.mutation_fsm --list               # the mutants, without running anything

The module is patched in place (the editable install's import hook would shadow a copy), so
the run refuses to start on a module with uncommitted changes: the bytes it restores must be
the committed ones.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("actors/job/fsm.py", "actors/job/evolve.py", "actors/job/state.py")
TESTS = ("tests/actors/job/test_fsm*.py", "tests/property/test_task_fsm_model.py")
KINDS = ("and/or", ">=/>", "<=/<", "==/!=", "not", "in/not in")
ISSUE_KINDS = ("and/or", ">=/>", "not")
TIMEOUT_S = 300.0

_SWAPS: dict[type[ast.cmpop], tuple[str, type[ast.cmpop]]] = {
    ast.GtE: (">=/>", ast.Gt),
    ast.Gt: (">=/>", ast.GtE),
    ast.LtE: ("<=/<", ast.Lt),
    ast.Lt: ("<=/<", ast.LtE),
    ast.Eq: ("==/!=", ast.NotEq),
    ast.NotEq: ("==/!=", ast.Eq),
    ast.In: ("in/not in", ast.NotIn),
    ast.NotIn: ("in/not in", ast.In),
}
_SYMBOLS = {
    ast.GtE: ">=",
    ast.Gt: ">",
    ast.LtE: "<=",
    ast.Lt: "<",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
}


@dataclass(frozen=True)
class Mutant:
    path: str
    index: int  # position among the module's sites, in (line, column) order
    kind: str
    line: int
    change: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.change}"


def _sites(tree: ast.AST) -> list[tuple[ast.AST, str, int]]:
    """Every mutable operator in `tree` as (node, kind, operator index), in source order."""
    found: list[tuple[ast.AST, str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp):
            found.append((node, "and/or", 0))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            found.append((node, "not", 0))
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _SWAPS:
                    found.append((node, _SWAPS[type(op)][0], i))
    return sorted(
        found,
        key=lambda s: (s[0].lineno, s[0].col_offset, s[2], s[1]),  # type: ignore[attr-defined]
    )


def _describe(node: ast.AST, kind: str, i: int) -> str:
    if isinstance(node, ast.BoolOp):
        return "and -> or" if isinstance(node.op, ast.And) else "or -> and"
    if isinstance(node, ast.UnaryOp):
        return f"drop not in `{ast.unparse(node)}`"
    assert isinstance(node, ast.Compare)
    op = type(node.ops[i])
    return f"{_SYMBOLS[op]} -> {_SYMBOLS[_SWAPS[op][1]]} in `{ast.unparse(node)}`"


class _DropNot(ast.NodeTransformer):
    def __init__(self, target: ast.AST) -> None:
        self.target = target

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if node is self.target:
            return node.operand
        self.generic_visit(node)
        return node


def _mutated_source(source: str, index: int) -> str:
    tree = ast.parse(source)
    node, _kind, i = _sites(tree)[index]
    if isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.UnaryOp):
        tree = _DropNot(node).visit(tree)
    else:
        assert isinstance(node, ast.Compare)
        node.ops[i] = _SWAPS[type(node.ops[i])][1]()
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def mutants(kinds: tuple[str, ...]) -> list[Mutant]:
    found: list[Mutant] = []
    for path in TARGETS:
        tree = ast.parse((ROOT / path).read_text())
        for index, (node, kind, i) in enumerate(_sites(tree)):
            if kind in kinds:
                line = node.lineno  # type: ignore[attr-defined]
                found.append(Mutant(path, index, kind, line, _describe(node, kind, i)))
    return found


def _test_files() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for pattern in TESTS for p in ROOT.glob(pattern))


def _run_tests(pycache: str) -> tuple[bool, float]:
    """Whether the FSM's tests pass, and how long they took."""
    env = {
        **os.environ,
        "HYPOTHESIS_PROFILE": "dev",
        # No bytecode is read or written: a mutant must never be run from a stale .pyc.
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPYCACHEPREFIX": pycache,
    }
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *_test_files()]
    started = time.monotonic()
    try:
        done = subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return False, time.monotonic() - started
    return done.returncode == 0, time.monotonic() - started


def _uncommitted(paths: tuple[str, ...]) -> list[str]:
    out = subprocess.run(
        ["git", "status", "--porcelain", "--", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help=f"comma-separated operator kinds (default: all of {', '.join(KINDS)}); "
        f"the issue's figure uses {','.join(ISSUE_KINDS)}",
    )
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    args = parser.parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(","))
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        parser.error(f"unknown kinds {unknown}; known: {list(KINDS)}")
    todo = mutants(kinds)
    if args.list:
        for n, m in enumerate(todo, 1):
            print(f"{n:3} {m}")
        return 0
    dirty = _uncommitted(TARGETS)
    if dirty:
        print(f"refusing to patch modules with uncommitted changes: {dirty}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="mutation-pycache-") as pycache:
        ok, seconds = _run_tests(pycache)
        if not ok:
            print("the FSM's tests fail without any mutant: nothing to measure", file=sys.stderr)
            return 2
        print(f"tests: {' '.join(_test_files())} ({seconds:.1f} s unmutated)")
        killed: Counter[str] = Counter()
        total: Counter[str] = Counter()
        survivors: list[Mutant] = []
        for n, mutant in enumerate(todo, 1):
            target = ROOT / mutant.path
            original = target.read_bytes()
            try:
                target.write_text(_mutated_source(original.decode(), mutant.index))
                passed, _ = _run_tests(pycache)
            finally:
                target.write_bytes(original)
            dead = not passed
            total[mutant.kind] += 1
            killed[mutant.kind] += dead
            if not dead:
                survivors.append(mutant)
            print(f"{n:3} {'killed  ' if dead else 'SURVIVED'} {mutant}", flush=True)
    print()
    for kind in kinds:
        if total[kind]:
            print(f"{kind:10} {killed[kind]:3} of {total[kind]:3} killed")
    print(f"{'total':10} {sum(killed.values()):3} of {sum(total.values()):3} killed")
    issue = [k for k in ISSUE_KINDS if k in kinds]
    if issue and set(issue) != set(kinds):
        k, t = sum(killed[x] for x in issue), sum(total[x] for x in issue)
        print(f"{'+'.join(issue)}: {k} of {t} killed")
    if survivors:
        print("\nsurvivors:")
        for mutant in survivors:
            print(f"    {mutant}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
