"""Files that are not UTF-8 (a spec, a template, a configuration, a secret file) end in one
line that names the file and the byte where it stops being text, never a traceback, and the
bytes themselves (perhaps a secret) are never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.service.processes import cli

BAD = b"\xff\xfe-secret-bytes"


@pytest.mark.parametrize(
    ("name", "body", "args"),
    [
        ("spec.json", b'{"type": "index_parallel", "x": "' + BAD + b'"}', ["submit"]),
        ("pipe.toml", b'[pipeline]\nname = "' + BAD + b'"\n', ["validate"]),
        ("orch.toml", b'[overlord]\nurl = "' + BAD + b'"\n', ["run", "--config"]),
        ("kafka.json", b'{"type": "kafka", "x": "' + BAD + b'"}', ["supervisor", "apply"]),
    ],
)
async def test_a_file_that_is_not_utf8_is_named_with_the_byte_and_nothing_else(
    tmp_path: Path, name: str, body: bytes, args: list[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(body)
    offline = ["--db", str(tmp_path / "x.db"), "--overlord", "http://127.0.0.1:9"]
    extra = offline if args[0] in ("submit", "supervisor") else []
    result = await cli(*args, str(path), *extra)
    output = result.out + result.err
    assert result.code in (1, 2), output
    assert "Traceback" not in output
    assert f"not UTF-8 at byte {body.index(BAD)}" in output
    assert name in output
    assert "secret-bytes" not in output


async def test_a_secret_file_that_is_not_utf8_is_named_without_its_bytes(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_bytes(BAD)
    config = tmp_path / "orch.toml"
    config.write_text(
        f'[overlord]\nurl = "http://127.0.0.1:9"\nuser = "u"\npassword_file = "{secret}"\n'
    )
    result = await cli("run", "--config", str(config))
    output = result.out + result.err
    assert result.code == 2, output
    assert "Traceback" not in output
    assert f"the secret file {secret}: not UTF-8 at byte 0" in output
    assert "secret-bytes" not in output
