"""The deployment kit in `examples/` held to the daemon it deploys: every `DRUID_ORCH_*`
variable is a real configuration key, ports and paths agree with what the daemon reads,
probes hit routes the API serves, and the hardening the README promises is there."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from service.api import PROBES
from service.config import load_config
from service.config.schema import ENV_KEYS, RESERVED_ENV
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


# --- Docker -------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """`(INSTRUCTION, arguments)` of the Dockerfile, continuation lines joined."""
    text = (EXAMPLES / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines()]
    pairs = [ln.split(None, 1) for ln in lines if ln and not ln.startswith("#")]
    return [(p[0].upper(), p[1] if len(p) > 1 else "") for p in pairs]


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last = max(n for n, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last:]


def docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in final_stage():
        if op == "ENV":
            env.update(pair.split("=", 1) for pair in args.split())
    return env


def test_the_image_is_slim_unprivileged_and_keeps_the_log_on_a_volume(tmp_path: Path) -> None:
    stage = final_stage()
    ops = dict(stage)  # the last of each instruction is the one in force
    assert all("-slim" in args for op, args in dockerfile() if op == "FROM")
    user = ops["USER"].split(":")[0]
    assert user not in ("root", "0")
    env = {k: v for k, v in docker_env().items() if k.startswith("DRUID_ORCH_")}
    assert [name for name in env if not known_variable(name)] == []
    token = tmp_path / "api-token"
    token.write_text("t0ken")
    config = load_config(ORCH_TOML, env=settings(env, token))
    volumes = json.loads(ops["VOLUME"])
    assert str(PurePosixPath(config.eventlog.db).parent) in volumes
    assert ops["EXPOSE"].split() == [str(config.api.port)]
    # Listening beyond loopback: the daemon refuses to start without the token the ENV names.
    assert config.api.host == "0.0.0.0"
    assert config.api.token is not None
    assert f"127.0.0.1:{config.api.port}/healthz" in ops["HEALTHCHECK"]
    assert ops["ENTRYPOINT"] == '["druid-orch"]'
    assert json.loads(ops["CMD"])[:2] == ["run", "--config"]
    # Every package the project ships is copied into the build stage.
    shipped = {name.rstrip("*") for name in PACKAGES_INCLUDED}
    copied = {args.split()[0] for op, args in dockerfile() if op == "COPY"}
    assert shipped <= copied, shipped - copied


PACKAGES_INCLUDED: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
    "setuptools"
]["packages"]["find"]["include"]


# --- Kubernetes ---------------------------------------------------------------------------


def manifests() -> dict[str, dict[str, Any]]:
    text = (EXAMPLES / "kubernetes" / "druid-orch.yaml").read_text()
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text)}


def test_the_manifests_run_one_replica_on_a_volume_with_the_daemons_port_and_probes(
    tmp_path: Path,
) -> None:
    docs = manifests()
    deployment = docs["Deployment"]["spec"]
    assert deployment["replicas"] == 1  # one SQLite writer
    assert deployment["strategy"]["type"] == "Recreate"
    pod = deployment["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert [name for name in env if not known_variable(name)] == []
    config_file = tmp_path / "orch.toml"
    config_file.write_text(docs["ConfigMap"]["data"]["orch.toml"])
    token = tmp_path / "api-token"
    token.write_text("t0ken")
    config = load_config(config_file, env=settings(env, token))
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    # The log on the claimed volume, the config from the ConfigMap, the token from a Secret.
    data = next(n for n, v in volumes.items() if "persistentVolumeClaim" in v)
    assert (
        volumes[data]["persistentVolumeClaim"]["claimName"]
        == docs["PersistentVolumeClaim"]["metadata"]["name"]
    )
    assert PurePosixPath(config.eventlog.db).parent == PurePosixPath(mounts[data])
    assert container["args"] == ["run", "--config", f"{mounts['config']}/orch.toml"]
    token_mount = next(n for n, v in volumes.items() if "secret" in v)
    assert env["DRUID_ORCH_API_TOKEN_FILE"].startswith(mounts[token_mount] + "/")
    # Ports and probes: what the daemon listens on and routes it serves without a token.
    [port] = container["ports"]
    assert port["containerPort"] == config.api.port
    [service_port] = docs["Service"]["spec"]["ports"]
    assert service_port["targetPort"] in (port["name"], port["containerPort"])
    probes = {k: container[k]["httpGet"]["path"] for k in container if k.endswith("Probe")}
    assert probes == {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    assert set(probes.values()) <= PROBES
    assert pod["terminationGracePeriodSeconds"] > config.daemon.shutdown_timeout_s
    annotations = deployment["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(config.api.port)
    assert annotations["prometheus.io/path"] == "/metrics"
    # Unprivileged, and the same user as the image.
    assert pod["securityContext"]["runAsNonRoot"] is True
    image_user = dict(final_stage())["USER"].split(":")[0]
    assert str(pod["securityContext"]["runAsUser"]) == image_user
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_ha_example_config_loads_with_every_key_it_names() -> None:
    config = load_config(EXAMPLES / "ha" / "ha.toml")
    assert config.eventlog.url is not None
    assert config.eventlog.url.startswith("postgresql://")
    assert config.eventlog.lease_s == 10
    assert config.eventlog.warm_standby is True
    assert config.api.advertise_url == "http://127.0.0.1:8642"
