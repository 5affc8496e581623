"""A throwaway CA with a server certificate for 127.0.0.1 and a client certificate, made
with the `openssl` command (as tests/contract/test_tls.py does): no extra dependency."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _signed(d: Path, name: str, subject: str, ext: str) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
             f"{name}.csr", "-subj", subject, cwd=d)  # fmt: skip
    (d / f"{name}.ext").write_text(ext)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
             f"{name}.ext", cwd=d)  # fmt: skip


def make_certificates(d: Path) -> Path:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=druid-orch security test CA", cwd=d)  # fmt: skip
    _signed(d, "server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\n")
    _signed(d, "client", "/CN=druid-orch", "extendedKeyUsage=clientAuth\n")
    return d
