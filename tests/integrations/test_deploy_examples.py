"""The deployment kit in `examples/` held to the daemon it deploys: every `DRUID_ORCH_*`
variable is a real configuration key, ports and paths agree with what the daemon reads,
probes hit routes the API serves, and the hardening the README promises is there."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path, PurePosixPath

from service.config import ENV_KEYS, RESERVED_ENV, load_config
from tests.service.processes import ROOT

EXAMPLES = ROOT / "examples"
ORCH_TOML = EXAMPLES / "orch.toml"


def known_variable(name: str) -> bool:
    return name in ENV_KEYS or name in RESERVED_ENV


def settings(env: dict[str, str], secret_file: Path) -> dict[str, str]:
    """`env` with its token file pointed at a real one (the paths are the target host's)."""
    return {k: (str(secret_file) if k.endswith("_TOKEN_FILE") else v) for k, v in env.items()}


# --- systemd ------------------------------------------------------------------------------


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(EXAMPLES / "systemd" / "druid-orch.service")
    return parser


def unit_env(service: configparser.SectionProxy) -> dict[str, str]:
    # configparser keeps the last of repeated keys: read every Environment= line instead.
    text = (EXAMPLES / "systemd" / "druid-orch.service").read_text()
    lines = [ln.removeprefix("Environment=") for ln in text.splitlines()]
    pairs = [ln.split("=", 1) for ln in lines if ln.startswith("DRUID_ORCH_")]
    assert service.get("Environment") is not None
    return dict(pairs)


def test_the_unit_is_type_notify_with_a_watchdog_and_runs_the_daemon(tmp_path: Path) -> None:
    service = unit()["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert int(service["WatchdogSec"]) > 0
    command = service["ExecStart"].split()
    assert command[0].endswith("/druid-orch")
    assert command[1:3] == ["run", "--config"]
    env = unit_env(service)
    assert [name for name in env if not known_variable(name)] == []
    token = tmp_path / "api-token"
    token.write_text("t0ken")
    config = load_config(ORCH_TOML, env=settings(env, token))
    # The log lives in the StateDirectory, the token comes from the credential it loads.
    db = PurePosixPath(config.eventlog.db)
    assert db.parent == PurePosixPath("/var/lib") / service["StateDirectory"]
    credential = service["LoadCredential"].split(":", 1)[0]
    assert env["DRUID_ORCH_API_TOKEN_FILE"].endswith(f".service/{credential}")
    # systemd kills what outlives TimeoutStopSec: the daemon's own bound must come first.
    assert int(service["TimeoutStopSec"]) > config.daemon.shutdown_timeout_s


def test_the_unit_is_hardened() -> None:
    service = unit()["Service"]
    expected = {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "StateDirectoryMode": "0700",  # the project's own rule for directories it creates
        "UMask": "0077",
    }
    assert {k: service.get(k) for k in expected} == expected


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # not every CI image has systemd; the checks above still run
        return
    # verify wants the ExecStart binary to exist on this host: point it at one that does.
    text = (EXAMPLES / "systemd" / "druid-orch.service").read_text()
    copy = tmp_path / "druid-orch.service"
    copy.write_text(text.replace("/opt/druid-orch/bin/druid-orch", "/bin/true"))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
