"""Scenario files for the simulator: TOML with `[cluster]`, `[faults]` and auth settings.

    druid-orch sim --scenario overlord/sim/scenarios/flaky_overlord.toml

Every table maps onto `SimConfig` (`[cluster]` is `ClusterConfig`, `[faults]` is `Faults`, and
`[[faults.events]]` are timed `FaultEvent`s). Unknown keys are errors, so a misspelt setting
does not silently do nothing; so are failure kinds the simulator does not know.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import msgspec

from overlord.sim.catalog import FAILURE_KINDS
from overlord.sim.server import SimConfig


class ScenarioError(ValueError):
    """A scenario file that cannot be read or does not describe a valid simulator."""


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped in `overlord/sim/scenarios/`."""
    folder = resources.files("overlord.sim") / "scenarios"
    names = (p.name for p in folder.iterdir())
    return sorted(n.removesuffix(".toml") for n in names if n.endswith(".toml"))


def load_scenario(path: str | Path) -> SimConfig:
    """Read a scenario file (or a built-in scenario by name) into a `SimConfig`.

    Raises:
        ScenarioError: unreadable file, invalid TOML, unknown keys, wrong types, or unknown
            failure kinds; the message names the file and the problem.
    """
    source = Path(path)
    if not source.exists() and str(path) in builtin_scenarios():
        source = Path(str(resources.files("overlord.sim") / "scenarios" / f"{path}.toml"))
    try:
        data = tomllib.loads(source.read_text())
        config = msgspec.convert(data, SimConfig)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    except msgspec.ValidationError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    _check_kinds(path, config)
    return config


def _check_kinds(path: str | Path, config: SimConfig) -> None:
    cluster = config.cluster
    named = list(cluster.transient_kinds) + list(cluster.structural_kinds)
    for key, steps in cluster.scripted.items():
        named += [s.split(":", 1)[1] if ":" in s else s for s in steps if s != "success"]
        if not steps:
            raise ScenarioError(f"{path}: scripted outcomes for {key!r} are empty")
    unknown = sorted({k for k in named if k not in FAILURE_KINDS})
    if unknown:
        raise ScenarioError(
            f"{path}: unknown failure kinds {unknown}; known kinds are {sorted(FAILURE_KINDS)}"
        )
