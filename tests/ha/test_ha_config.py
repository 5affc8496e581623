"""The HA keys: `eventlog.url`, its password kept out of the URL and of every output."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.errors import ConfigError
from service.config import load_config


def test_a_postgres_url_takes_its_password_from_a_file_and_never_shows_it(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cr3t-pw\n")
    config = load_config(
        env={
            "DRUID_ORCH_EVENTLOG_URL": "postgresql://orch@db:5432/orch",
            "DRUID_ORCH_EVENTLOG_PASSWORD_FILE": str(secret),
            "DRUID_ORCH_API_ADVERTISE_URL": "http://orch-a:8642",
        }
    )
    assert config.eventlog.password is not None
    assert config.eventlog.password.reveal() == "s3cr3t-pw"
    assert config.api.advertise_url == "http://orch-a:8642"
    assert "s3cr3t-pw" not in repr(config.dump())
    assert config.eventlog.lease_s == 10.0


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://orch:pw@db/orch", "it carries a password; put it in eventlog.password_file"),
        ("mysql://orch@db/orch", "'mysql' is not a database URL this orchestrator knows"),
    ],
)
def test_a_bad_eventlog_url_is_refused_naming_the_key(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=r"eventlog\.url") as refused:
        load_config(env={"DRUID_ORCH_EVENTLOG_URL": url})
    assert says in str(refused.value)
    assert "pw@" not in str(refused.value)


def test_a_lease_shorter_than_a_second_is_refused() -> None:
    with pytest.raises(ConfigError, match="DRUID_ORCH_EVENTLOG_LEASE_S"):
        load_config(env={"DRUID_ORCH_EVENTLOG_LEASE_S": "0.1"})
