"""Scenario files for the simulator: TOML with `[cluster]`, `[faults]` and auth settings."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

from overlord.simulator import SimConfig


class ScenarioError(ValueError):
    pass


def load_scenario(path: str | Path) -> SimConfig:
    try:
        data = tomllib.loads(Path(path).read_text())
        return msgspec.convert(data, SimConfig)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    except msgspec.ValidationError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
