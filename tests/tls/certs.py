#!/usr/bin/env python3
"""Test certificates for the TLS suites, made with the openssl command line into a directory.

Shared by tests/tls (pytest), tests/browser (node runs `python3 tests/tls/certs.py DIR`),
tests/sanitize and bench: one generator, so every suite trusts the same kind of chain.

    make_certs(directory) -> dict of name -> path        (idempotent: reuses a complete set)
    python3 tests/tls/certs.py DIR                        (prints the same dict as JSON)

What it makes (keys in three encodings, so that the engine's PKCS#8, PKCS#1 and SEC1 readers
are all exercised):
    ca.pem / ca.key             the test CA ("httpsock test CA"), trusted by the clients
    server.pem / server.key     localhost, 127.0.0.1, ::1; EC P-256, PKCS#8; the default cert
    server2.pem / server2.key   the same names, a new key and serial: the "renewed" certificate
    alt.pem / alt.key           alt.test (SNI); RSA 2048, PKCS#1 ("BEGIN RSA PRIVATE KEY")
    other.pem / other.key       other.test (SNI); EC P-256, SEC1 ("BEGIN EC PRIVATE KEY")
    client.pem / client.key     a client certificate (mutual TLS) signed by the CA
    rogue.pem / rogue.key       a self-signed client certificate: not from the CA
    expired.pem / expired.key   a client certificate from the CA that expired in 2020
    chain.pem                   server.pem followed by ca.pem (a chain, leaf first)
    combined.pem                server.pem followed by server.key (key in the cert file)
    garbage.pem                 not PEM at all
Every certificate's subject CN says what it is, so a test can tell which one a server sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

OPENSSL_TIMEOUT = 60  # seconds for one openssl command (RSA key generation is the slowest)

NAMES = ["ca", "server", "server2", "alt", "other", "client", "rogue", "expired"]

# CN and subjectAltName of every leaf; the CA signs all but the rogue one.
LEAVES = {
    "server": ("httpsock test server", "DNS:localhost,IP:127.0.0.1,IP:::1", "serverAuth"),
    "server2": ("httpsock test server renewed", "DNS:localhost,IP:127.0.0.1,IP:::1", "serverAuth"),
    "alt": ("httpsock test alt.test", "DNS:alt.test", "serverAuth"),
    "other": ("httpsock test other.test", "DNS:other.test,DNS:*.wild.test", "serverAuth"),
    "client": ("httpsock test client", "DNS:client.test", "clientAuth"),
}


def _run(args: list[str], cwd: Path) -> None:
    out = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True,
                         timeout=OPENSSL_TIMEOUT, stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {out.stderr.decode(errors='replace')}")


def _ec_pkcs8(d: Path, name: str) -> None:
    _run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-out", f"{name}.key"], d)


def _key(d: Path, name: str) -> None:
    if name == "alt":  # RSA, PKCS#1
        _run(["genrsa", "-traditional", "-out", "alt.key", "2048"], d)
    elif name == "other":  # EC, SEC1
        _run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "other.key"], d)
    else:
        _ec_pkcs8(d, name)


def _ext_file(d: Path, name: str, san: str, usage: str) -> Path:
    path = d / f"{name}.ext"
    path.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage={usage}\n"
        f"subjectAltName={san}\n"
    )
    return path


def _expired(d: Path) -> None:
    """A client certificate valid 2020-01-01 .. 2020-01-02: `openssl ca` sets both dates."""
    _ec_pkcs8(d, "expired")
    _run(["req", "-new", "-key", "expired.key", "-subj", "/CN=httpsock test expired client",
          "-out", "expired.csr"], d)
    (d / "ca.db").write_text("")
    (d / "ca.cnf").write_text(
        "[ca]\ndefault_ca=test\n"
        "[test]\n"
        f"database={d / 'ca.db'}\nnew_certs_dir={d}\nserial={d / 'ca.srl.expired'}\n"
        "default_md=sha256\npolicy=any\nunique_subject=no\ncopy_extensions=none\n"
        "x509_extensions=ext\n"
        "[any]\ncommonName=supplied\n"
        "[ext]\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n"
    )
    (d / "ca.srl.expired").write_text("1000\n")
    _run(["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
          "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-notext",
          "-in", "expired.csr", "-out", "expired.pem"], d)


def make_certs(directory: str | os.PathLike) -> dict[str, str]:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = {}
    for n in NAMES:
        paths[n] = str(d / f"{n}.pem")
        paths[n + "_key"] = str(d / f"{n}.key")
    for extra in ("chain", "combined", "garbage"):
        paths[extra] = str(d / f"{extra}.pem")
    done = d / "complete"
    if done.exists():
        return paths

    _ec_pkcs8(d, "ca")
    _run(["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=httpsock test CA",
          "-days", "3650", "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem"], d)
    for serial, (name, (cn, san, usage)) in enumerate(LEAVES.items(), start=2):
        _key(d, name)
        _run(["req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr"], d)
        ext = _ext_file(d, name, san, usage)
        _run(["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
              "-set_serial", str(serial), "-days", "3650", "-extfile", ext.name,
              "-out", f"{name}.pem"], d)
    _ec_pkcs8(d, "rogue")
    _run(["req", "-x509", "-new", "-key", "rogue.key", "-subj", "/CN=httpsock test rogue client",
          "-days", "3650", "-addext", "extendedKeyUsage=clientAuth", "-out", "rogue.pem"], d)
    _expired(d)
    (d / "chain.pem").write_bytes((d / "server.pem").read_bytes() + (d / "ca.pem").read_bytes())
    (d / "combined.pem").write_bytes((d / "server.pem").read_bytes()
                                     + (d / "server.key").read_bytes())
    (d / "garbage.pem").write_bytes(b"this is not a certificate\n\x00\xff\n")
    done.write_text("ok\n")
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: certs.py DIR", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(make_certs(sys.argv[1])))
